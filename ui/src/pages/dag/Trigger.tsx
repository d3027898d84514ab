/**
 * The trigger dialog wherever it opens (a DAG's page, a row of the DAG list). Its code, with the
 * param format checks, loads when it is first opened, so the app's first bundle stays small.
 */
import { lazy, Suspense } from "react";
import { ErrorBox, Loading, Modal } from "../../components/common";
import { useDag } from "./hooks";

const TriggerDialog = lazy(() => import("./TriggerDialog").then((m) => ({ default: m.TriggerDialog })));

export function Trigger({ dagId, onClose, onTriggered }: { dagId: string; onClose(): void; onTriggered(runId: string): void }) {
  // On a DAG's page this is already loaded; from the list it is read now (the params are not in the list).
  const dag = useDag(dagId);
  const waiting = (
    <Modal title={`Trigger ${dagId}`} onClose={onClose} wide>
      {dag.error ? <ErrorBox error={dag.error} title={`Could not load DAG ${dagId}`} /> : <Loading what="the form" />}
    </Modal>
  );
  if (!dag.data) return waiting;
  return (
    <Suspense fallback={waiting}>
      <TriggerDialog dag={dag.data} onClose={onClose} onTriggered={onTriggered} />
    </Suspense>
  );
}

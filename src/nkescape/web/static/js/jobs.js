// The run and cancel buttons of a panel whose work is a server job (a simulation, a scenario):
// start it (POST), poll it with a progress bar and a live status line, cancel it (DELETE), and
// hand its result on when it is done. Both panels behave alike because they share this.

import { ApiError, startJob } from "./api.js";
import { message } from "./dom.js";
import { count } from "./format.js";

/**
 * Wire `form` (its submit runs the job) and `cancelButton`. `body()` gives the request, or null
 * when the form is not ready (it has said why in `status`); `onDone(result)` draws the result.
 */
export function jobControls({ form, runButton, cancelButton, progress, status, path, body, onDone }) {
  let job = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = body();
    if (request === null) return;
    runButton.disabled = true;
    cancelButton.disabled = false;
    progress.value = 0;
    progress.removeAttribute("value"); // indeterminate until the server reports a total
    message(status, "Starting…");
    try {
      job = await startJob(path, request, (j) => showProgress(j, progress, status));
      const last = await job.finished;
      if (last.state === "done") onDone(last.result);
    } catch (err) {
      message(status, err instanceof ApiError ? err.message : String(err), "error");
      progress.value = 0;
    } finally {
      job = null;
      runButton.disabled = false;
      cancelButton.disabled = true;
    }
  });

  cancelButton.addEventListener("click", async () => {
    if (!job) return;
    cancelButton.disabled = true;
    message(status, "Cancelling…");
    try {
      await job.cancel();
    } catch (err) {
      message(status, err instanceof ApiError ? err.message : String(err), "error");
    }
  });
}

/** Report a job's state in the bar and the live status line (a screen reader hears it). */
function showProgress(job, bar, status) {
  const { done = 0, total = 0, stage = null } = job.progress ?? {};
  if (total > 0) {
    bar.max = total;
    bar.value = done;
  }
  const share = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : "";
  const texts = {
    queued: "Queued: waiting for a free worker.",
    running: `Running${stage ? `, ${stage}` : ""}: ${count(done)} of ${count(total)}${share}.`,
    done: `done: ${count(total)} of ${count(total)}.`,
    failed: `failed: ${job.error ?? "no reason given"}`,
    cancelled: "cancelled.",
  };
  message(status, texts[job.state] ?? job.state, job.state === "failed" ? "error" : "info");
}

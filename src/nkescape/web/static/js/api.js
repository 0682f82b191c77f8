// Every request the page makes goes through this module. Paths are relative ("api/..."), so
// they resolve against the page's own address: the page never talks to another host.

/** An API answer that is not 2xx, carrying the server's one-line `detail`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// How often a running job is asked for its progress: often enough for a smooth bar, rarely
// enough not to load a 2-core laptop that is also running the simulation.
export const POLL_MS = 300;

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message}); is \`nkescape serve\` running?`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail);
  }
  return data;
}

export const getJson = (path) => request("GET", path);
export const postJson = (path, body) => request("POST", path, body);
export const deleteJson = (path) => request("DELETE", path);

/** The query string of an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FINISHED = new Set(["done", "failed", "cancelled"]);

/**
 * Start a job (POST `path` with `body`) and poll it until it finishes.
 *
 * `onUpdate(job)` sees every state the server reports. The returned object has `cancel()`,
 * which asks the server to stop the job (DELETE), and `finished`, a promise of its last state
 * ("done", "failed" or "cancelled").
 */
export async function startJob(path, body, onUpdate) {
  const started = await postJson(path, body);
  const id = started.id;
  onUpdate({ id, state: started.state, progress: { done: 0, total: 0 } });
  const finished = (async () => {
    for (;;) {
      await sleep(POLL_MS);
      const job = await getJson(`api/jobs/${encodeURIComponent(id)}`);
      onUpdate(job);
      if (FINISHED.has(job.state)) return job;
    }
  })();
  return {
    id,
    finished,
    // The poll loop sees the cancelled state on its next round and finishes then.
    cancel: () => deleteJson(`api/jobs/${encodeURIComponent(id)}`),
  };
}

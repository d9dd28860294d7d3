// Talking to presenced from the wallboard: the page's read token, JSON
// reads with paging, and the URL of the event stream.
//
// With auth on, the page is opened as /?access_token=<token>. The token goes
// as a Bearer header on fetches and as ?access_token= on the EventSource,
// which cannot send headers. URLs are relative, so the page also works
// behind a proxy that serves presenced under a path prefix.

export const token = new URLSearchParams(location.search).get("access_token") || "";

// APIError is a JSON error answer of the API.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// getJSON reads one JSON answer. It resolves to {body, res}; an error
// answer rejects with an APIError.
export async function getJSON(path) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, cache: "no-cache" });
  if (!res.ok) {
    let code = "", message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      code = body.error?.code ?? "";
      message = body.error?.message ?? message;
    } catch { /* not JSON: keep the status line */ }
    throw new APIError(res.status, code, message);
  }
  return { body: await res.json(), res };
}

// getAll reads every page of a list, following next_cursor. It resolves
// to {items, first}, where first is the answer to the first page (its
// ETag and Date headers).
export async function getAll(path, limit) {
  const sep = path.includes("?") ? "&" : "?";
  const items = [];
  let first = null, cursor = "";
  do {
    const url = `${path}${sep}limit=${limit}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
    const { body, res } = await getJSON(url);
    first ??= res;
    items.push(...body.items);
    cursor = body.next_cursor || "";
  } while (cursor);
  return { items, first };
}

// positionFromETag turns the bulk presence ETag (W/"<xid>-<id>", the event
// position the read was taken at) into an event id to resume after.
export function positionFromETag(etag) {
  const m = /^(?:W\/)?"(\d+-\d+)"$/.exec(etag || "");
  return m ? m[1] : "";
}

// eventsURL is the stream of topics, starting right after the event id
// after ("" for now on).
export function eventsURL(topics, after) {
  const q = new URLSearchParams();
  for (const t of topics) q.append("topic", t);
  if (after) q.set("last_event_id", after);
  if (token) q.set("access_token", token);
  return `v1/events?${q}`;
}

// The API, as the signed-in operator. The bearer token lives in this tab's sessionStorage: it is
// never put in a URL or a cookie, and closing the tab forgets it.

const KEY = "ocpp-bulk.token";

export const BULK = "/v3/chargers/commands/bulk";

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (token) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** An answer other than 2xx: `status`, and the JSON body (`message`, `errors` for a 422). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The API answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

/**
 * One request; resolves to the JSON body, throws ApiError otherwise. A 401 signs the tab out.
 * `query` is an object of parameters (null and "" left out); `headers` are added to the request.
 * `signOutOn401: false` leaves a 401 to the caller (the sign-in form).
 */
export async function api(path, { method = "GET", query, body, headers = {}, signOutOn401 = true } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const init = {
    method,
    cache: "no-store",
    headers: { Accept: "application/json", Authorization: `Bearer ${session.token() ?? ""}`, ...headers },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { message: `The API could not be reached: ${error.message}` });
  }
  const json = await response.json().catch(() => null);
  if (response.status === 401 && signOutOn401) {
    session.signOut();
    if (location.hash !== "#/signin") location.hash = "#/signin";
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

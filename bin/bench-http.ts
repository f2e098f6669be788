/**
 * The benchmarks' API client: a form POST or a GET with the service's test
 * key (and an Idempotency-Key when given). A 5xx stops the benchmark.
 */
export function benchClient(baseUrl: string, secretKey: string) {
  return async function call(method: string, path: string, body?: string, key?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${secretKey}`,
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(key ? { 'idempotency-key': key } : {}),
      },
      body,
    });
    const json = (await res.json()) as any;
    if (res.status >= 500) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return { status: res.status, body: json };
  };
}

// One plain HTTP GET for tests that read the server's own answers (/healthz,
// /metrics): status, content type and the body as text.
import { request } from "node:http";

export interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

export function httpGet(url: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
      );
    })
      .on("error", reject)
      .end();
  });
}

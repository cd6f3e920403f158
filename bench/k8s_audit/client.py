"""The kube-apiserver side of the benchmark: TLS keep-alive connections posting EventLists."""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from typing import Any


def post_all(port: int, ca_pem: bytes, bodies: list[bytes], clients: int, result: Any) -> None:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    errors = []

    def run(part: list[bytes]) -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
        for body in part:
            while True:
                conn.request("POST", "/k8s-audit", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 503:  # engine busy: back off as kube-apiserver would
                    time.sleep(0.01)
                    continue
                if resp.status != 200:
                    errors.append(resp.status)
                break
        conn.close()

    threads = [threading.Thread(target=run, args=(bodies[i::clients],)) for i in range(clients)]
    result.put(time.time())  # the first request leaves now
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.put(errors)

"""A webhook receiver for the bench, in a process of its own (as a training platform would
be): verifies every signature (Standard Webhooks), takes single events and batches, and
answers at once. `GET /count` says how many distinct events it verified, and how many
requests it refused.

    python -m perf.receiver --port 9000 --secret whsec_...
"""

import argparse

from aiohttp import web
from standardwebhooks import Webhook


def app(secret: str) -> web.Application:
    verifier = Webhook(secret)
    received: set[str] = set()
    refused = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal refused
        body = await request.read()
        try:
            payload = verifier.verify(body, dict(request.headers))
        except Exception:
            refused += 1
            return web.Response(status=400)
        events = payload["data"] if payload.get("type") == "batch" else [payload]
        for event in events:
            received.add(str(event["data"]["external_id"]))
        return web.Response(status=204)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"received": len(received), "refused": refused})

    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/hook", hook)
    application.router.add_get("/count", count)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    options = parser.parse_args()
    web.run_app(app(options.secret), host="127.0.0.1", port=options.port, print=None)


if __name__ == "__main__":
    main()

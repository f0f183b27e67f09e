"""`python -m ms_emulator --host 127.0.0.1 --port 8099 --latency-ms 50 --seed demo`

Serves the emulator with gevent's pywsgi server (hundreds of concurrent requests for the benchmarks).
gevent monkey-patches here and only here, before anything else is imported. The first stdout line is a
JSON object with the URLs and, with `--seed demo`, the demo account's keys and logins.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ms_emulator", description="MoySklad emulator")
    parser.add_argument("--host", default="127.0.0.1", help="only 127.0.0.1 (or localhost) is allowed")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every Phone and JSON API request")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="uniform random extra latency")
    parser.add_argument("--seed", default=None, help="'demo' creates the demo account (deterministic keys)")
    parser.add_argument("--knobs", default=None, help='JSON object of knobs, e.g. \'{"phone_search": "digits"}\'')
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK_HOSTS:
        parser.error("the emulator binds 127.0.0.1 only")
    if args.seed not in (None, "demo"):
        parser.error("--seed supports only 'demo'")
    from .knobs import Knobs  # light: no flask, no requests (gevent has not patched yet)

    try:
        knobs: dict[str, Any] = json.loads(args.knobs) if args.knobs else {}
        knobs.setdefault("phone_latency_ms", args.latency_ms)
        knobs.setdefault("json_latency_ms", args.latency_ms)
        knobs.setdefault("phone_jitter_ms", args.jitter_ms)
        knobs.setdefault("json_jitter_ms", args.jitter_ms)
        Knobs().update(knobs)
    except (ValueError, AttributeError) as exc:
        parser.error(f"bad --knobs: {exc}")
    args.knobs = knobs
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gevent import monkey

    monkey.patch_all()  # before flask/requests/ssl are imported (ms_emulator/__init__ imports lazily)

    from gevent import pywsgi

    from .accounts import DEMO_SPEC
    from .app import create_emulator
    from .state import EmulatorState

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state = EmulatorState(knobs=args.knobs, seed=args.seed)
    accounts = [state.create_account(DEMO_SPEC)] if args.seed == "demo" else []

    class SocketExposingHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
        """Lets the drop-connection fault reach the client socket."""

        def get_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environ()
            environ["ms_emulator.socket"] = self.socket
            return environ

    server = pywsgi.WSGIServer(("127.0.0.1", args.port), create_emulator(state), handler_class=SocketExposingHandler,
                               log=None, error_log=logging.getLogger("ms_emulator.gevent"))
    server.start()
    url = f"http://127.0.0.1:{server.server_port}"
    print(json.dumps({"url": url, "phone_api_url": f"{url}/api/phone/1.0", "json_api_url": f"{url}/api/remap/1.2",
                      "control_url": f"{url}/_emulator", "accounts": accounts}, ensure_ascii=False), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

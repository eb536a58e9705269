"""gradio_client's race between a session's closing event stream and the next submit.

    qa serve /tmp/bbc-src/bbc/{business,entertainment,politics,sport,tech} --index-dir /tmp/load-bbc --port 7895
    python benchmarks/gradio_client_race.py http://127.0.0.1:7895/ --delay 0.5

One gradio_client.Client asks --questions questions one after another. gradio_client reads all
of a session's events from one stream, which the server closes (a `close_stream` message) once
the session has nothing pending. --delay makes the client's reader thread take that long over
the `close_stream` message, as a thread starved of CPU would: a question submitted meanwhile is
registered on the closing stream, and the reader, ending, marks it cancelled, so its job raises
CancelledError although the app answers it. With --delay 0 every question is answered. This is
what gave the load test's two CancelledErrors at load average ~20 (docs/RELIABILITY.md, "Load");
benchmarks/load.py's default client does not share a stream between questions.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the reader spends on close_stream")
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()

    import gradio_client.client as client_module

    class SlowOnClose:  # the `json` module as gradio_client's reader sees it
        def __getattr__(self, name: str):
            return getattr(json, name)

        @staticmethod
        def loads(text, *more, **options):
            message = json.loads(text, *more, **options)
            if isinstance(message, dict) and message.get("msg") == "close_stream":
                time.sleep(args.delay)
            return message

    client_module.json = SlowOnClose()
    client = client_module.Client(args.url, verbose=False)
    answered, errors = 0, []
    for n in range(args.questions):
        try:
            client.submit(f"question {n}", [], api_name="/ask").result(timeout=60)
            answered += 1
        except Exception as error:  # noqa: BLE001 - counted and shown
            errors.append(type(error).__name__)
    client.close()
    print(f"delay {args.delay} s: {answered} answered, {len(errors)} failed {sorted(set(errors))}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes one answer and one up-vote on it for model "example", then prints the response id.

    python3 clients/python/example.py --bootstrap-servers HOST:PORT
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaizen_wire import KaizenProducer, new_id  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    producer = KaizenProducer(args.bootstrap_servers)
    response_id = new_id()
    producer.log_response(response_id, "example", 0, [{"role": "user", "content": "What is Kaizen?"}],
                          "Continuous improvement.")
    producer.vote(new_id(), response_id, "example-user", "example", "UP")
    try:
        producer.flush()
    except RuntimeError as e:
        sys.exit(f"example.py: {e}")
    print(response_id)


if __name__ == "__main__":
    main()

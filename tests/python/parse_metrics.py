#!/usr/bin/env python3
"""Parses a Prometheus text exposition from standard input with the reference parser
(`prometheus_client.parser`), which rejects malformed text, and prints its samples as JSON:
[{"family", "type", "name", "labels", "value"}, ...]. Exit status 1 on a parse error."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    out = []
    try:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                v = s.value
                out.append({
                    "family": fam.name,
                    "type": fam.type,
                    "name": s.name,
                    "labels": s.labels,
                    "value": None if math.isnan(v) else ("+Inf" if v == math.inf else v),
                })
    except Exception as e:  # the parser raises ValueError and others on bad input
        print(f"parse_metrics: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

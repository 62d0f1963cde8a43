"""Checks event deliveries with the Standard Webhooks reference library (PyPI
`standardwebhooks`), which no one here wrote. Reads a JSON list of cases on stdin, each
{"secret", "headers", "body", "expect": "ok" | "refused"}; prints one JSON line per case
({"ok": bool, "why": str}) and exits 1 if any case did not come out as expected."""

import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError

failures = 0
for case in json.load(sys.stdin):
    try:
        Webhook(case["secret"]).verify(case["body"].encode(), case["headers"])
        verified, why = True, "verified"
    except WebhookVerificationError as e:
        verified, why = False, str(e)
    if verified != (case["expect"] == "ok"):
        failures += 1
    print(json.dumps({"ok": verified, "why": why}))
sys.exit(1 if failures else 0)

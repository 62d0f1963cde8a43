"""Extracts the request parameters of the endpoints the stand-in serves from Stripe's official
Python SDK (stripe-python), whose `stripe/params/**` TypedDicts Stripe generates from its
published OpenAPI description ("File generated from our OpenAPI spec"), into `requests.json`.

Usage: python3 extract.py <stripe-python git directory> <commit or tag> > requests.json

Only the standard library is used; the SDK is read from git, never imported. The output is a
small JSON Schema subset (`object`, `array`, `string` with `enum`, `integer`, `number`,
`boolean`, `map` for string-to-string maps, `anyOf`), one schema per endpoint.
"""

import ast
import json
import subprocess
import sys

# The stand-in's routes, and the SDK's params class (file, class) of each.
ENDPOINTS = {
    "POST /v1/checkout/sessions": ("checkout/_session_create_params.py", "SessionCreateParams"),
    "GET /v1/checkout/sessions": ("checkout/_session_list_params.py", "SessionListParams"),
    "GET /v1/checkout/sessions/{id}": (
        "checkout/_session_retrieve_params.py",
        "SessionRetrieveParams",
    ),
    "POST /v1/checkout/sessions/{id}/expire": (
        "checkout/_session_expire_params.py",
        "SessionExpireParams",
    ),
    "GET /v1/events": ("_event_list_params.py", "EventListParams"),
    "POST /v1/refunds": ("_refund_create_params.py", "RefundCreateParams"),
    "GET /v1/refunds": ("_refund_list_params.py", "RefundListParams"),
    "GET /v1/payment_intents/{id}": (
        "_payment_intent_retrieve_params.py",
        "PaymentIntentRetrieveParams",
    ),
    "POST /v1/payment_intents/{id}/capture": (
        "_payment_intent_capture_params.py",
        "PaymentIntentCaptureParams",
    ),
    "POST /v1/payment_intents/{id}/cancel": (
        "_payment_intent_cancel_params.py",
        "PaymentIntentCancelParams",
    ),
}

SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "Decimal": {"type": "number"},
    "bool": {"type": "boolean"},
}


def git_show(repo, rev, path):
    return subprocess.run(
        ["git", "-C", repo, "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout


class Module:
    def __init__(self, source):
        self.classes = {
            node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)
        }

    def schema_of_class(self, name):
        properties, required = {}, []
        for stmt in self.classes[name].body:
            if not isinstance(stmt, ast.AnnAssign):
                continue
            field, annotation = stmt.target.id, stmt.annotation
            optional = (
                isinstance(annotation, ast.Subscript)
                and isinstance(annotation.value, ast.Name)
                and annotation.value.id == "NotRequired"
            )
            if optional:
                annotation = annotation.slice
            else:
                required.append(field)
            properties[field] = self.schema(annotation)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def schema(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.schema(ast.parse(node.value, mode="eval").body)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            options = []
            for side in (node.left, node.right):
                s = self.schema(side)
                options.extend(s["anyOf"] if "anyOf" in s else [s])
            return {"anyOf": options}
        if isinstance(node, ast.Name):
            if node.id in SCALARS:
                return dict(SCALARS[node.id])
            return self.schema_of_class(node.id)
        if isinstance(node, ast.Subscript):
            outer = node.value.id
            if outer == "Literal":
                values = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                return {"type": "string", "enum": [v.value for v in values]}
            if outer == "Union":
                options = []
                for element in node.slice.elts:
                    s = self.schema(element)
                    options.extend(s["anyOf"] if "anyOf" in s else [s])
                return {"anyOf": options}
            if outer == "List":
                return {"type": "array", "items": self.schema(node.slice)}
            if outer in ("Dict", "UntypedStripeObject"):
                return {"type": "map"}
        raise ValueError(f"unexpected annotation {ast.dump(node)}")


def merge_maps(schema):
    """`Dict[str, str]|UntypedStripeObject[str]` is one map."""
    if isinstance(schema, dict):
        if "anyOf" in schema:
            options, seen_map = [], False
            for option in map(merge_maps, schema["anyOf"]):
                if option == {"type": "map"}:
                    if seen_map:
                        continue
                    seen_map = True
                options.append(option)
            return options[0] if len(options) == 1 else {"anyOf": options}
        return {k: merge_maps(v) for k, v in schema.items()}
    return schema


def main():
    repo, rev = sys.argv[1], sys.argv[2]
    version = git_show(repo, rev, "stripe/_api_version.py")
    api_version = version.split('CURRENT = "')[1].split('"')[0]
    commit = subprocess.run(
        ["git", "-C", repo, "rev-parse", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    sdk_version = git_show(repo, rev, "VERSION").strip()
    endpoints = {}
    for endpoint, (path, cls) in ENDPOINTS.items():
        module = Module(git_show(repo, rev, f"stripe/params/{path}"))
        endpoints[endpoint] = merge_maps(module.schema_of_class(cls))
    out = {
        "source": f"github.com/stripe/stripe-python {sdk_version} ({commit}), stripe/params/**",
        "api_version": api_version,
        "endpoints": endpoints,
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()

"""Extracts the request parameters of the endpoints the stand-in serves from Stripe's official
Python SDK (stripe-python), whose `stripe/params/**` TypedDicts Stripe generates from its
published OpenAPI description ("File generated from our OpenAPI spec"), into `requests.json`.

Usage: python3 extract.py <stripe-python git directory> <commit or tag> > requests.json
   or: python3 extract.py <stripe-X.Y.Z-py3-none-any.whl, as published on PyPI> > requests.json

Only the standard library is used; the SDK is read from git or from the wheel (a zip file),
never imported. The output is a
small JSON Schema subset (`object`, `array`, `string` with `enum`, `integer`, `number`,
`boolean`, `map` for string-to-string maps, `anyOf`), one schema per endpoint.
"""

import ast
import hashlib
import json
import subprocess
import sys
import zipfile

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
            return union([self.schema(node.left), self.schema(node.right)])
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
                return union([self.schema(option) for option in node.slice.elts])
            if outer == "List":
                return {"type": "array", "items": self.schema(node.slice)}
            if outer in ("Dict", "UntypedStripeObject"):
                return {"type": "map"}
        raise ValueError(f"unexpected annotation {ast.dump(node)}")


def union(options):
    """One of `options`. `Literal[...] | str` (or `Union[Literal[...], str]`) is how newer SDKs
    type an enum: open, so that a value Stripe adds later still type-checks in an older
    client. At the version the SDK speaks Stripe accepts the listed values only (another is
    `parameter_invalid_string`), so the schema is the enum (with `""` where that is listed
    too, to unset the field). `Literal[""] | str` is not one: it is any string."""
    flat = []
    for option in options:
        flat.extend(option["anyOf"] if "anyOf" in option else [option])
    listed = [o for o in flat if "enum" in o and o["enum"] != [""]]
    if len(listed) == 1 and all("enum" in o or o == {"type": "string"} for o in flat):
        flat = [o for o in flat if "enum" in o]
    if len(flat) == 1:
        return flat[0]
    return {"anyOf": flat}


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


def from_git(repo, rev):
    """The SDK's files at `rev` of a clone, and where they came from."""
    commit = subprocess.run(
        ["git", "-C", repo, "rev-parse", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    sdk_version = git_show(repo, rev, "VERSION").strip()
    source = f"github.com/stripe/stripe-python {sdk_version} ({commit}), stripe/params/**"
    return (lambda path: git_show(repo, rev, path)), source


def from_wheel(path):
    """The SDK's files in a wheel from PyPI, and where they came from (with its digest)."""
    wheel = zipfile.ZipFile(path)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    name = path.rsplit("/", 1)[-1]
    source = f"pypi.org/project/stripe {name} (sha256 {digest}), stripe/params/**"
    return (lambda inner: wheel.read(inner).decode()), source


def main():
    if sys.argv[1].endswith(".whl"):
        read, source = from_wheel(sys.argv[1])
    else:
        read, source = from_git(sys.argv[1], sys.argv[2])
    version = read("stripe/_api_version.py")
    api_version = version.split('CURRENT = "')[1].split('"')[0]
    endpoints = {}
    for endpoint, (path, cls) in ENDPOINTS.items():
        module = Module(read(f"stripe/params/{path}"))
        endpoints[endpoint] = merge_maps(module.schema_of_class(cls))
    out = {
        "source": source,
        "api_version": api_version,
        "endpoints": endpoints,
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()

"""Is a record of the kind being scored? A record of another kind (entities scored as classify)
or with a field of the wrong type (a string where a list of labels goes) is reported with its
line, never scored as if it were something else: "labels": "billing" is not eight labels."""
from __future__ import annotations

# kind -> (the list it holds, the string fields of each item)
LISTS = {
    "entities": ("entities", ("type", "text")),
    "relations": ("relations", ("head", "type", "tail")),
    "events": ("events", ("type", "trigger")),
    "triples": ("triples", ("subject", "predicate", "object")),
}


def shape_problem(kind: str, record: dict) -> str | None:
    """Why `record` cannot be scored as a `kind` record, or None."""
    if kind in LISTS:
        key, fields = LISTS[kind]
        items = record.get(key)
        if not isinstance(items, list):
            return f"the record has no \"{key}\" list: is it a {kind} record?"
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                return f"\"{key}\" item {n} is not an object"
            bad = [f for f in fields if not isinstance(item.get(f), str)]
            if bad:
                return f"\"{key}\" item {n} needs a string \"{bad[0]}\""
            if kind == "events" and not _list_of_objects(item.get("arguments", []), ("role", "text")):
                return f"\"events\" item {n}: \"arguments\" must be a list of objects with string role and text"
            if kind == "triples" and not _list_of_strings(item.get("args", [])):
                return f"\"triples\" item {n}: \"args\" must be a list of strings"
        return None
    if kind == "classify":
        if "labels" in record:
            return None if _list_of_strings(record["labels"]) else \
                "\"labels\" must be a list of label strings" + (" (got one string)" if isinstance(record["labels"], str) else "")
        if "label" in record:
            return None if record["label"] is None or isinstance(record["label"], str) else "\"label\" must be a string"
        return "the record has no \"label\" or \"labels\": is it a classify record?"
    if kind == "qa":
        if "answers" in record:
            return None if _list_of_strings(record["answers"]) else "\"answers\" must be a list of strings"
        if "answer" in record:
            return None if record["answer"] is None or isinstance(record["answer"], str) else "\"answer\" must be a string"
        return "the record has no \"answer\": is it a qa record?"
    return None


def _list_of_strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _list_of_objects(value, fields) -> bool:
    return isinstance(value, list) and all(isinstance(x, dict) and all(isinstance(x.get(f), str) for f in fields)
                                           for x in value)

"""``neurosim profiles``: list the shipped chip profiles."""
from __future__ import annotations

from ..chip import list_profiles, load_profile
from .common import check_output_path, dump_json, table, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("profiles", help="list the shipped chip profiles")
    p.add_argument("--json", action="store_true", help="print the profile names (and details) as JSON")
    p.add_argument("--seed", type=int, default=0, help="unused; accepted for uniformity")
    p.add_argument("-o", "--output", default=None, help="write the JSON list to FILE")
    p.set_defaults(func=run)


def run(args):
    check_output_path(args.output)
    profs = [load_profile(n) for n in list_profiles()]
    data = {"profiles": [p.name for p in profs],
            "details": {p.name: {k: v for k, v in p.to_dict().items() if k not in ("sources",)} for p in profs}}
    if args.output:
        write_text_atomic(args.output, dump_json(data) + "\n")
    if args.json:
        print(dump_json(data))
        return 0
    rows = [(p.name, p.cores_per_chip, f"{p.crossbar_rows}x{p.crossbar_cols}", p.neurons_per_core,
             p.weight_bits or "float", p.description) for p in profs]
    print(table(rows, ["name", "cores", "tile", "neurons/core", "bits", "description"]))
    return 0

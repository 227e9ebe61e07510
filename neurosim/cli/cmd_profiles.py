"""``neurosim profiles``: list the chip profiles findable by name and where each comes from."""
from __future__ import annotations

from ..chip import load_profile
from ..chip.profile import PROFILE_PATH_ENV, profile_sources
from .common import add_json, add_output, check_output_path, dump_json, print_json, table, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("profiles", help="list the chip profiles (shipped and user) and where each comes from",
                       description=f"Shipped profiles are package data; folders named by ${PROFILE_PATH_ENV} "
                                   "(separated by ':') add user profiles, which win over shipped ones of the same name.")
    add_json(p)
    add_output(p, "file", "the profile list with details as JSON (.json)")
    p.set_defaults(func=run)


def run(args):
    check_output_path(args.output)
    srcs = profile_sources()
    profs = [load_profile(e["name"]) for e in srcs]
    data = {"profiles": [e["name"] for e in srcs],
            "sources": {e["name"]: {"source": e["source"], "path": e["path"], "shadows": e["shadows"]} for e in srcs},
            "details": {e["name"]: {k: v for k, v in p.to_dict().items() if k not in ("sources",)}
                        for e, p in zip(srcs, profs)}}
    if args.output:
        write_text_atomic(args.output, dump_json(data) + "\n")
    if args.json:
        print_json(args, data, model=None, profile=None, seed=None)
        return 0
    rows = [(e["name"], p.cores_per_chip, f"{p.crossbar_rows}x{p.crossbar_cols}", p.neurons_per_core,
             p.weight_bits or "float", e["source"] + (" (shadows shipped)" if e["shadows"] else ""), e["path"])
            for e, p in zip(srcs, profs)]
    print(table(rows, ["name", "cores", "tile", "neurons/core", "bits", "source", "file"]))
    return 0

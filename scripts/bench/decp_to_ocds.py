#!/usr/bin/env python3
"""Python peer for the procurement benchmark: DECP 2019 JSON -> OCDS releases (JSON lines).

Used by scripts/bench-procurement.sh, not by the application. It does the part of
`carnet-server procurement import` + OCDS publication that has a Python equivalent:
stream `marches[]` with ijson (C backend, constant memory), map each record to one
award/contract release plus one contractAmendment release per modification, and write
them as release packages of 1,000, one per line, so that `ocdskit compile` can merge them into compiled releases.

What it deliberately does NOT do (our importer does): quality checks (SIRET Luhn, CPV
lookup in the official list, dates, placeholder amounts, duplicates), repairs of broken
JSON (BOM, NaN, control characters), the 2022 format and XML, and writing anything to a
database. A record that is not a JSON object is skipped and counted.

usage: decp_to_ocds.py INPUT.json OUTPUT.jsonl [--ocid-prefix ocds-xxxxxx]
prints `read=N releases=M skipped=K` on stderr.
"""

import decimal
import json
import sys

import ijson

PUBLISHED = "2026-01-01T00:00:00Z"
PACKAGE_SIZE = 1000


def number(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v.replace(",", ".").replace(" ", ""))
        except ValueError:
            return None
    return None


def date_time(v):
    if not isinstance(v, str) or len(v) < 10:
        return None
    return v[:10] + "T00:00:00Z"


def party(p, role):
    pid = "{}-{}".format(p.get("typeIdentifiant") or "SIRET", p.get("id"))
    return {
        "id": pid,
        "name": p.get("denominationSociale") or p.get("nom"),
        "identifier": {"scheme": "FR-RCS", "id": str(p.get("id"))},
        "roles": [role],
    }


def releases(r, index, prefix):
    concession = r.get("_type") == "Contrat de concession"
    buyer = r.get("autoriteConcedante" if concession else "acheteur") or {}
    holders = r.get("concessionnaires" if concession else "titulaires") or []
    if isinstance(holders, dict):
        holders = [holders]
    holders = [h for h in holders if isinstance(h, dict)]
    ocid = "{}-{}{}".format(prefix, buyer.get("id", ""), r.get("id", ""))
    amount = number(r.get("valeurGlobale" if concession else "montant"))
    date = date_time(r.get("dateSignature" if concession else "dateNotification")) or date_time(
        r.get("datePublicationDonnees")
    )
    parties = [
        {
            "id": "SIRET-{}".format(buyer.get("id")),
            "name": buyer.get("nom"),
            "identifier": {"scheme": "FR-RCS", "id": str(buyer.get("id"))},
            "roles": ["buyer"],
        }
    ] + [party(h, "supplier") for h in holders]
    # A party appears once with all its roles (a buyer can be its own supplier).
    merged = {}
    for p in parties:
        if p["id"] in merged:
            merged[p["id"]]["roles"] = sorted(set(merged[p["id"]]["roles"]) | set(p["roles"]))
        else:
            merged[p["id"]] = p
    suppliers = list({p["id"]: p for p in parties[1:]}.values())
    value = {"amount": amount, "currency": "EUR"} if amount is not None else None
    award = {
        "id": "1",
        "status": "active",
        "date": date,
        "value": value,
        "suppliers": [{"id": p["id"], "name": p["name"]} for p in suppliers],
    }
    contract = {
        "id": "1",
        "awardID": "1",
        "title": r.get("objet"),
        "value": value,
        "items": [
            {
                "id": "1",
                "classification": {"scheme": "CPV", "id": str(r.get("codeCPV", ""))},
            }
        ],
        "period": {"durationInDays": int(number(r.get("dureeMois")) or 0) * 30},
        "dateSigned": date,
    }
    base = {
        "ocid": ocid,
        "id": "{}-award-{}".format(ocid, index),
        "date": date or PUBLISHED,
        "tag": ["award", "contract"],
        "initiationType": "tender",
        "language": "fr",
        "buyer": {"id": parties[0]["id"], "name": parties[0]["name"]},
        "parties": list(merged.values()),
        "tender": {"id": "1", "procurementMethodDetails": r.get("procedure")},
        "awards": [prune(award)],
        "contracts": [prune(contract)],
    }
    out = [base]
    mods = r.get("modifications") or []
    for seq, m in enumerate(mods if isinstance(mods, list) else [], start=1):
        if not isinstance(m, dict):
            continue
        mdate = date_time(m.get("dateNotificationModification")) or date_time(
            m.get("datePublicationDonneesModification")
        )
        amendment = {
            "id": str(m.get("id", seq)),
            "date": mdate,
            "description": m.get("objetModification"),
        }
        c = {"id": "1", "amendments": [prune(amendment)]}
        mamount = number(m.get("valeurGlobale" if concession else "montant"))
        if mamount is not None:
            c["value"] = {"amount": mamount, "currency": "EUR"}
        out.append(
            {
                "ocid": ocid,
                "id": "{}-amendment-{}-{}".format(ocid, index, seq),
                "date": mdate or date or PUBLISHED,
                "tag": ["contractAmendment"],
                "initiationType": "tender",
                "contracts": [c],
            }
        )
    return out


def flush(out, batch):
    """One release package per line (ocdskit reads concatenated packages); a package
    carries `version: 1.1`, which bare releases cannot."""
    if not batch:
        return 0
    package = {
        "uri": "https://example.org/bench",
        "publishedDate": PUBLISHED,
        "publisher": {"name": "bench"},
        "version": "1.1",
        "releases": batch,
    }
    out.write(json.dumps(package, ensure_ascii=False))
    out.write("\n")
    n = len(batch)
    batch.clear()
    return n


def prune(d):
    return {k: v for k, v in d.items() if v is not None}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    prefix = "ocds-bench"
    if "--ocid-prefix" in sys.argv:
        prefix = sys.argv[sys.argv.index("--ocid-prefix") + 1]
    read = written = skipped = 0
    batch = []
    with open(src, "rb") as f, open(dst, "w", encoding="utf-8") as out:
        for index, r in enumerate(ijson.items(f, "marches.item", use_float=True)):
            read += 1
            if not isinstance(r, dict):
                skipped += 1
                continue
            batch.extend(releases(r, index, prefix))
            if len(batch) >= PACKAGE_SIZE:
                written += flush(out, batch)
        written += flush(out, batch)
    print("read={} releases={} skipped={}".format(read, written, skipped), file=sys.stderr)


if __name__ == "__main__":
    main()

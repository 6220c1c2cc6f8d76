"""Cut online-retail-slice.csv, the history import's test fixture, from the full Online Retail export.

Run from the repository root:

    .venv/bin/python tests/data/make_slice.py [SOURCE]

SOURCE defaults to ../shared/data/online-retail/online-retail.csv.gz. The slice keeps
the header and, in file order, every line that meets one of the rules below, so each
quirk of the export is present in a file of a few thousand lines:

- all lines of CUSTOMERS: small customers with cancellations that match an earlier
  invoice and cancellations that match none, customer 12346, whose one order is
  cancelled whole, and customer 17850, who bought 85123A at two prices. Among their
  products are codes sold under several descriptions, such as 22632;
- the first PER_CODE_LIMIT lines of each non-product code (POST, DOT, M, D, BANK
  CHARGES, AMAZONFEE, gift_0001_*, DCGS*, ...);
- the first PER_CODE_LIMIT lines of each product code written with a lower-case suffix
  (85123a beside 85123A);
- the lines of the first NO_CUSTOMER_INVOICES invoices without a customer id, and the
  first PER_CODE_LIMIT stock corrections (negative quantity outside a cancellation).

The export has no quantity 0 and no code with leading zeros; the tests add those lines
themselves.
"""

from __future__ import annotations

import csv
import gzip
import re
import sys
from collections import Counter
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPOSITORY_ROOT.parent / "shared/data/online-retail/online-retail.csv.gz"
OUTPUT = Path(__file__).resolve().parent / "online-retail-slice.csv"

CUSTOMERS = {
    "12346.0",
    "16446.0",
    "17850.0",
    "15973.0",
    "15299.0",
    "17044.0",
    "17548.0",
    "13672.0",
    "18072.0",
    "15749.0",
    "12879.0",
    "14339.0",
    "15621.0",
    "18193.0",
    "12504.0",
    "14350.0",
}
PER_CODE_LIMIT = 12
NO_CUSTOMER_INVOICES = 2
PRODUCT_CODE = re.compile(r"\d{5}[A-Za-z]*")


def select_lines(source: Path) -> list[list[str]]:
    """Return the header and the chosen lines of the source in file order."""
    per_code: Counter[str] = Counter()
    no_customer_invoices: set[str] = set()
    corrections = 0
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        rows = [next(reader)]
        for row in reader:
            invoice, code, _, quantity, _, _, customer, _ = row
            take = customer in CUSTOMERS
            lower_suffix = PRODUCT_CODE.fullmatch(code) and code[5:].islower()
            if not PRODUCT_CODE.fullmatch(code) or lower_suffix:
                per_code[code] += 1
                take = take or per_code[code] <= PER_CODE_LIMIT
            if not customer and int(quantity) > 0 and not invoice.startswith("C"):
                if len(no_customer_invoices) < NO_CUSTOMER_INVOICES:
                    no_customer_invoices.add(invoice)
                take = take or invoice in no_customer_invoices
            if int(quantity) < 0 and not invoice.startswith("C"):
                corrections += 1
                take = take or corrections <= PER_CODE_LIMIT
            if take:
                rows.append(row)
    return rows


def main() -> None:
    """Write the slice next to this script."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    rows = select_lines(source)
    with OUTPUT.open("w", encoding="utf-8", newline="") as output:
        csv.writer(output, lineterminator="\n").writerows(rows)
    print(f"Wrote {len(rows) - 1} lines to {OUTPUT}")


if __name__ == "__main__":
    main()

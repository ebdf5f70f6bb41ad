"""The PANDAS peer: the same mirror table as benchmarks/floor.py, written carefully in pandas.

Only the 12 needed columns are read (``usecols``), with explicit dtypes (codes as int32,
repeated strings as categoricals, values float64), file by file in chunks, filtered to total
rows as they are read; then one vectorised sort + drop_duplicates (latest release wins),
code -> ISO-3 through a categorical map, one groupby and one outer merge.

    python benchmarks/pandas_peer.py LANDING_DIR COUNTRY_CODES_CSV OUT.parquet
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

USECOLS = [
    "freqCode", "period", "reporterCode", "flowCode", "partnerCode", "partner2Code",
    "cmdCode", "aggrLevel", "customsCode", "mosCode", "motCode", "primaryValue",
]  # fmt: skip
DTYPES = {
    "freqCode": "category",
    "period": str,  # categorical after filtering (a categorical dtype here would infer ints)
    "reporterCode": "int32",
    "flowCode": "category",
    "partnerCode": "int32",
    "partner2Code": "int32",
    "cmdCode": str,
    "aggrLevel": "int8",
    "customsCode": "category",
    "mosCode": "int32",
    "motCode": "int32",
    "primaryValue": "float64",
}
KEY = ["freqCode", "period", "reporterCode", "flowCode", "partnerCode", "cmdCode"]
RELEASE = re.compile(r"released-(\d{4})-(\d{2})-(\d{2})")


def read_totals(path: Path, file_no: int) -> pd.DataFrame:
    parts = []
    for chunk in pd.read_csv(path, usecols=USECOLS, dtype=DTYPES, chunksize=2_000_000):
        total = (
            (chunk.customsCode == "C00")
            & (chunk.motCode == 0)
            & (chunk.mosCode == 0)
            & (chunk.partner2Code == 0)
            & (chunk.aggrLevel == 6)
            & (chunk.partnerCode != 0)
        )
        part = chunk.loc[total, [*KEY, "primaryValue"]]
        hs = part.cmdCode.where(part.cmdCode.str.len() != 5, "0" + part.cmdCode)
        parts.append(
            part.assign(cmdCode=hs.astype("category"), period=part.period.astype("category"))
        )
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    m = RELEASE.search(path.name)
    release = int("".join(m.groups())) if m else 0
    return df.assign(release=np.int32(release), file_no=np.int32(file_no))


def main(landing: str, codes_csv: str, out: str) -> None:
    started = time.monotonic()
    files = sorted(
        p for p in (Path(landing) / "comtrade").rglob("*") if p.name.endswith((".csv", ".csv.gz"))
    )
    # file_no follows the name order, so ties on the release date break like the floor's
    frames = [read_totals(p, n) for n, p in enumerate(files)]
    union_cats = {
        c: pd.api.types.union_categoricals([f[c] for f in frames]).categories
        for c in ("freqCode", "period", "flowCode", "cmdCode")
    }
    frames = [
        f.assign(**{c: pd.Categorical(f[c], categories=cats) for c, cats in union_cats.items()})
        for f in frames
    ]
    df = pd.concat(frames, ignore_index=True)
    del frames
    df = df.sort_values(["release", "file_no"], kind="stable").drop_duplicates(KEY, keep="last")

    areas = pd.read_csv(codes_csv, dtype=str, keep_default_na=False)
    iso = dict(zip(areas.comtrade_code.astype(int), areas.iso3, strict=True))
    codes = np.union1d(df.reporterCode.unique(), df.partnerCode.unique())
    labels = [iso.get(int(c)) or f"#{c}" for c in codes]
    cat = pd.CategoricalDtype(sorted(set(labels)))
    lookup = dict(zip(codes, labels, strict=True))
    df["reporter"] = pd.Categorical(df.reporterCode.map(lookup), dtype=cat)
    df["partner"] = pd.Categorical(df.partnerCode.map(lookup), dtype=cat)

    keys = ["freqCode", "period", "reporter", "partner", "cmdCode"]
    x = (
        df[df.flowCode == "X"]
        .groupby(keys, observed=True, sort=False)["primaryValue"]
        .sum()
        .rename("export_value_usd")
        .reset_index()
        .rename(columns={"reporter": "exporter_iso3", "partner": "importer_iso3"})
    )
    m = (
        df[df.flowCode == "M"]
        .groupby(keys, observed=True, sort=False)["primaryValue"]
        .sum()
        .rename("import_value_usd")
        .reset_index()
        .rename(columns={"reporter": "importer_iso3", "partner": "exporter_iso3"})
    )
    del df
    on = ["freqCode", "period", "exporter_iso3", "importer_iso3", "cmdCode"]
    mirror = x.merge(m, on=on, how="outer")
    mirror["import_value_fob_usd"] = mirror.import_value_usd / 1.06
    mirror["gap_usd"] = mirror.import_value_fob_usd - mirror.export_value_usd
    mirror = mirror.rename(columns={"freqCode": "freq", "cmdCode": "hs6"})
    for c in ("freq", "period", "exporter_iso3", "importer_iso3", "hs6"):
        mirror[c] = mirror[c].astype(str)

    import duckdb  # only to write Parquet (pyarrow is not installed)

    duckdb.connect().execute(
        "COPY (SELECT * FROM mirror) TO '" + out.replace("'", "''") + "' (FORMAT parquet)"
    )
    print(f"pandas: {time.monotonic() - started:.2f}s, {len(mirror)} rows", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])

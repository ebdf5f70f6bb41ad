"""An offending row of a check as a sentence a statistician reads: the flow, both declarations,
the gap, the tolerance, the transit corridor applied to its pair, the change since the
previous period, the landing files. One wording for the alerts (``alerts.messages``) and the
`mirror run` summary's cause (``run_failures``)."""

from __future__ import annotations

from typing import Any


def scaled(value: Any) -> str:
    """A number with its scale, two decimals from a thousand up: ``5.64 bn``, ``652.58 m``,
    ``8,000`` (the alerts add the currency; the HTML report's tables do not)."""
    v = float(value)
    for unit, size in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.2f} {unit}"
    return f"{v:,.0f}"


def usd(value: Any) -> str:
    """A value in USD with its scale: ``5.64 bn USD``, ``652.58 m USD``, ``8,000 USD``."""
    return "n/a" if value is None else f"{scaled(value)} USD"


def signed_usd(value: Any) -> str:
    """:func:`usd` with a ``+`` before a positive value (a gap, a change)."""
    return ("+" if value is not None and float(value) > 0 else "") + usd(value)


def pct(value: Any) -> str:
    """A signed percentage with one decimal: ``-88.4 %``."""
    return "n/a" if value is None else f"{float(value):+.1f} %"


def is_flow(row: dict[str, Any]) -> bool:
    """Whether an offending row is a flow (a pair and an HS6 code), which :func:`offender_line`
    words as a sentence, rather than an aggregate's row (``key=value`` pairs)."""
    return {"exporter_iso3", "importer_iso3", "hs6"} <= set(row)


def offender_line(row: dict[str, Any]) -> str:
    """One offending row, as a sentence a statistician reads."""
    if is_flow(row):
        text = (
            f"{row['exporter_iso3']}→{row['importer_iso3']} HS {row['hs6']} "
            f"{row.get('period')} ({row.get('freq')}): declared export "
            f"{usd(row.get('declared_export_usd'))} vs mirror import (FOB) "
            f"{usd(row.get('mirror_import_fob_usd'))}, gap {signed_usd(row.get('gap_usd'))} "
            f"({pct(row.get('gap_pct'))})"
        )
        if row.get("check_tolerance_pct") is not None:
            text += f", tolerance {float(row['check_tolerance_pct']):g} %"
        if row.get("corridor_id"):
            text += f"; transit corridor {row['corridor_id']}"
            if row.get("corridor_source"):
                text += f" ({str(row['corridor_source']).replace('_', ' ')})"
            if row.get("corridor_allocation_share") is not None:
                text += (
                    f" attributes {100 * float(row['corridor_allocation_share']):.1f} % of what "
                    f"{row['exporter_iso3']} declared to "
                    f"{row.get('corridor_declared_partner_iso3')} to {row['importer_iso3']}"
                )
        if row.get("previous_period"):
            change = None
            if row.get("gap_usd") is not None and row.get("previous_gap_usd") is not None:
                change = float(row["gap_usd"]) - float(row["previous_gap_usd"])
            text += (
                f"; previous period {row['previous_period']}: gap "
                f"{signed_usd(row.get('previous_gap_usd'))} ({pct(row.get('previous_gap_pct'))})"
                + (f", change {signed_usd(change)}" if change is not None else "")
            )
        else:
            text += "; no mirror comparison in the previous period"
        if row.get("source_files"):
            text += "; files: " + ", ".join(str(f) for f in row["source_files"])
        return text
    return ", ".join(f"{k}={v}" for k, v in row.items())

"""Derived numbers of a results document: rates, fractions of the measured peaks, speedups.

Every ``ok`` result gains ``tflops`` (flops / time), ``gbs`` (minimal bytes / time),
``items_per_s``, ``frac_peak`` (the achieved rate over the device peak named by the case's
``bound``: bandwidth -> copy GB/s, bf16 / tf32 -> matmul TFLOP/s) and ``speedup`` (the case's
baseline provider's median over this one's). Raw medians are never changed.
"""
from __future__ import annotations

__all__ = ["derive", "case_key"]

_PEAK_KEYS = {"bandwidth": ("gbs", "bandwidth_gbs"), "bf16": ("tflops", "bf16_tflops"),
              "tf32": ("tflops", "tf32_tflops")}


def case_key(r: dict) -> tuple:
    return (r["op"], r["case"], tuple(sorted(r["shape"].items())), r["dtype"])


def derive(doc: dict) -> dict:
    peaks = doc.get("peaks") or {}
    base = {}
    for r in doc["results"]:
        if r["status"] == "ok" and r["provider"] == r.get("baseline"):
            base[case_key(r)] = r["median_ms"]
    for r in doc["results"]:
        for k in ("tflops", "gbs", "items_per_s", "frac_peak", "speedup"):
            r.pop(k, None)
        if r["status"] != "ok" or not r.get("median_ms"):
            continue
        s = r["median_ms"] * 1e-3
        if r.get("flops"):
            r["tflops"] = r["flops"] / s / 1e12
        if r.get("bytes"):
            r["gbs"] = r["bytes"] / s / 1e9
        if r.get("items"):
            r["items_per_s"] = r["items"] / s
        rate_key, peak_key = _PEAK_KEYS.get(r.get("bound") or "", (None, None))
        if rate_key and r.get(rate_key) and peaks.get(peak_key):
            r["frac_peak"] = r[rate_key] / peaks[peak_key]
        b = base.get(case_key(r))
        if b:
            r["speedup"] = b / r["median_ms"]
    return doc

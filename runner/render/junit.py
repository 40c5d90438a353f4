"""JUnit XML for CI: one testcase per drill; failed/not-detected/not-recovered are failures,
error and aborted are errors."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Sequence


def junit_xml(drills: Sequence[dict[str, Any]], suite: str = "release-drills") -> str:
    failures = sum(1 for d in drills if d["outcome"] in ("failed", "not-detected", "not-recovered"))
    errors = sum(1 for d in drills if d["outcome"] in ("error", "aborted"))
    total_time = sum((d["ttr_seconds"] or 0.0) for d in drills)
    root = ET.Element("testsuites", name=suite, tests=str(len(drills)), failures=str(failures), errors=str(errors))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(drills)), failures=str(failures), errors=str(errors),
                       time=f"{total_time:.3f}")
    for d in drills:
        tc = ET.SubElement(ts, "testcase", classname=f"drills.{d['target']['name']}", name=d["name"],
                           time=f"{(d['ttr_seconds'] or d['ttd_seconds'] or 0.0):.3f}")
        msg = f"{d['outcome']}: {d['reason']}"
        if d["outcome"] in ("failed", "not-detected", "not-recovered"):
            ET.SubElement(tc, "failure", message=msg, type=d["outcome"]).text = msg
        elif d["outcome"] in ("error", "aborted"):
            ET.SubElement(tc, "error", message=msg, type=d["outcome"]).text = msg
        out = [f"TTD {d['ttd_seconds']} s, TTR {d['ttr_seconds']} s, restore {(d['restore'] or {}).get('status')}"]
        out += [f"{e['offset_seconds']}: {e['kind']} {e['message']}" for e in d["timeline"]]
        ET.SubElement(tc, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

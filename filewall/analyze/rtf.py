"""RTF documents: exploit objects, objects that load themselves, deliberate malformation, DDE.

The embedded files themselves are children (:mod:`filewall.extract.rtf`) and are judged
on their own; this analyzer states what only the RTF text shows:

- object classes known from exploit documents: ``Equation.3`` (Equation Editor,
  CVE-2017-11882), ``OLE2Link`` (CVE-2017-0199), and CLSIDs that oletools'
  ``KNOWN_CLSIDS`` ties to a CVE;
- ``\\objupdate``, which makes Word load an object without a click;
- malformation used against scanners: a header other than ``{\\rtf1``, control words or
  ``\\bin`` runs inside object data;
- DDE fields (``{\\fldinst DDEAUTO ...}``) through oletools' ``msodde``.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from oletools import msodde
from oletools.common.clsid import KNOWN_CLSIDS

from ..extract._docs import add_urls, quiet_oletools, shorten, urls_in_bytes
from ..extract.rtf import parse_rtf
from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

quiet_oletools()

#: OLE class names of objects that exist in RTF files only to exploit Word.
_EXPLOIT_CLASSES = {
    "equation.3": "Equation Editor (CVE-2017-11882, CVE-2018-0802)",
    "equation.2": "Equation Editor (CVE-2017-11882, CVE-2018-0802)",
    "ole2link": "OLE2Link (CVE-2017-0199)",
    "otkloadr.wrassembly.1": "otkloadr.WRAssembly (CVE-2015-1641 helper)",
    "htmlfile": "htmlfile (CVE-2017-0199)",
    "word.document.8": None,  # ordinary embedded Word document: not an exploit by itself
}
_EXPLOIT_WORDS = re.compile(r"Equation|Moniker|StdOleLink|HTML Application|MSCOMCTL|Known Related|potential exploit",
                            re.I)
_OBJCLASS_RE = re.compile(rb"\\objclass\s+([^}\\{]{1,64})")
_DDE_RE = re.compile(rb"fldinst[^}]{0,300}?d\s*d\s*e", re.I)


@analyzer("rtf", order=40)
def rtf_document(node: Node, content: Content, ctx: ScanContext) -> None:
    data = bytes(content.view())
    header = data[:6]
    parsed = parse_rtf(node, content, ctx)
    evidence = []
    if parsed.objects and header != b"{\\rtf1":
        evidence.append(f"unusual header {header.decode('latin-1')!r}")
    if parsed.cwords_in_objdata:
        evidence.append(f"{parsed.cwords_in_objdata} control words inside object data")
    if parsed.bin_in_objdata:
        evidence.append("raw \\bin data inside object data")
    if evidence:
        ctx.fact(node, "rtf.obfuscated", evidence="; ".join(evidence))
    if parsed.objects and b"\\objupdate" in data.replace(b"\r", b"").replace(b"\n", b""):
        ctx.fact(node, "rtf.object_autoupdate")
    for obj in parsed.objects:
        _exploit_object(node, obj, ctx)
    for declared in _OBJCLASS_RE.findall(data[: 16 * 1024 * 1024]):
        # The class the RTF text declares, even when the object data is broken on purpose.
        class_name = declared.decode("latin-1").strip()
        known = _EXPLOIT_CLASSES.get(class_name.lower())
        if known:
            ctx.fact(node, "rtf.exploit_object", object=known, class_name=class_name)
    _dde(node, data, ctx)
    add_urls(node, urls_in_bytes(data[: 8 * 1024 * 1024])[:50])


def _exploit_object(node: Node, obj, ctx: ScanContext) -> None:
    raw = obj.class_name or b""
    class_name = raw.rstrip(b"\x00").decode("latin-1", "replace").strip() if isinstance(raw, bytes) else str(raw)
    known = _EXPLOIT_CLASSES.get(class_name.lower())
    if known:
        ctx.fact(node, "rtf.exploit_object", object=known, class_name=class_name)
    clsid = (obj.clsid or "").upper()
    description = KNOWN_CLSIDS.get(clsid, "")
    if description and _EXPLOIT_WORDS.search(description):
        ctx.fact(node, "rtf.exploit_object", object=description.split(" (")[0], detail=description)
    if class_name.lower() == "ole2link" and obj.oledata:
        # The address the link fetches sits in the object data as UTF-16 text.
        add_urls(node, re.findall(r"https?://[^\x00-\x20\"'<>]+", obj.oledata.decode("utf-16-le", "ignore")))


def _dde(node: Node, data: bytes, ctx: ScanContext) -> None:
    if not _DDE_RE.search(data):
        return  # msodde's RTF field parser is slow; only run it when a DDE field may exist
    try:
        text = msodde.process_rtf(io.BytesIO(data[4:]), msodde.FIELD_FILTER_DDE) or ""  # re-adds the header
    except Exception:
        return
    for line in text.splitlines()[:20]:
        if line.strip():
            ctx.fact(node, "office.dde", command=shorten(line))

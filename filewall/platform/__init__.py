"""The cross-shop platform: indicators per report, campaign grouping, sharing and updates.

- :mod:`.indicators` turns one scan report (plus its chat and sender) into a
  :class:`~.indicators.ReportIndicators` record: every sample SHA-256, TLSH, PE imphash,
  URLs/domains/IPs, a lure-text fingerprint and the sender account.
- :mod:`.correlate` links records that share indicators into campaigns (union of
  exact, fuzzy and lure-text links, with MISP-style over-correlation limits).
- :mod:`.campaigns` describes each campaign (shops, industries, regions, timeline, files,
  indicators, senders) and raises an alert when one reaches N shops.
- :mod:`.share` exports STIX 2.1 bundles and MISP events, and imports hash lists/YARA.
- :mod:`.updates` signs and serves promoted indicators/rules; clients fetch and verify them.
"""

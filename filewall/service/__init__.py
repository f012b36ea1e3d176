"""The support desk: the web app (``filewall serve``), its JSON API, accounts and scanning.

See ``docs/desk.md``; the app factory is :func:`filewall.service.app.create_app`.
"""

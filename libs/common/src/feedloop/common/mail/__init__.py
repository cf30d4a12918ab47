"""Mail that arrives, shared by every service that sends e-mail (notify, solicit).

`dkim`: DKIM signatures (RFC 6376) with dkimpy; `headers`: List-Unsubscribe and its one-click
companion (RFC 2369, RFC 8058) and the unsubscribe tokens mailed back to us; `settings`: the DKIM
settings mixin; `wire`: a message flattened to the bytes that are signed and sent.
Needs the `mail` extra (dkimpy).
"""

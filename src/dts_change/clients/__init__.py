"""Clients for the DTS OpenAPI and OSS, built on `requests`: signing, credentials, transport.

Nothing is re-exported here so that importing one client does not import the other; import from
the modules (`dts_change.clients.dts`, `.oss`, `.credentials`, `.signing`).
"""

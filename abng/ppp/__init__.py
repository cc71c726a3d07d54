"""PPP (RFC 1661 LCP, RFC 1332/1877 IPCP, RFC 1334 PAP, RFC 1994 CHAP-MD5) as sans-I/O machines.

Entry points: :class:`abng.ppp.session.PPPSession` (server side, one per subscriber),
:class:`abng.ppp.client.PPPClient` (subscriber side), events in :mod:`abng.ppp.events`,
the shared RFC 1661 transition table in :mod:`abng.ppp.fsm`.  See docs/ppp.md.
"""

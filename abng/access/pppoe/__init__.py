"""PPPoE (RFC 2516): codec, stateless-until-proven discovery server, discovery client."""

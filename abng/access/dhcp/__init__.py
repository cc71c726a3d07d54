"""Built-in DHCPv4 server for IPoE subscribers (DECISIONS D3): codec, options, pools, server core."""

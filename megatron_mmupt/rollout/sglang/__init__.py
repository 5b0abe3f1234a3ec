"""SGLang as a rollout engine: the HTTP client (``client``), the ``/generate`` wire format (``protocol``),
``ServerArgs`` (``args``), the server process (``process``) and its Ray actor (``ray_engine``)."""

"""Weight updates to an SGLang server: the endpoint calls and the update session (``calls``), the tensor payload
(``payload``), the broadcast group (``group``), and the single-process transports (``single``)."""

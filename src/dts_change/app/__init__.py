"""The entry points on top of the flow: the FC handler, the failure function, the `dts-change`
command and its views, settings."""

"""The served model: its ONNX session, its metadata and where its artifact is found."""

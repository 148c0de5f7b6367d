"""The method: saliency, masking, the SMOOT controller, the loss, and the step that joins them.

Specified in docs/method.md."""

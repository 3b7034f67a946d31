"""Evaluation: judges this project did not train, on the pixels a viewer sees, and the synthetic-corpus checks.

- ``report``: ``python -m flowvq_core eval``, which runs the judges below over a fixed set and writes the table, the
  JSON report and the pictures (``pictures``); ``assets`` fetches its real data (recordings, clips, portraits).
- ``emotion_judge``: fer's mini-Xception facial-expression classifier, ported to PyTorch.
- ``phones`` and ``lipsync``: pocketsphinx phone timings of real speech, and the rendered mouth scored against them.
- ``reenactment``, ``sharpness`` and ``clips``: self-reenactment of real talking-head clips (SSIM, M-LMD, F-LMD,
  CPBD).
- ``motion``: head-motion statistics (pose std, jerk, reversals); ``face_measures``: what FaceMesh reads off frames
  (lip gap, mouth width, eye opening, blinks).
- ``synthetic``: the generator against the synthetic corpus it was built from (debugging training, not quality).
"""

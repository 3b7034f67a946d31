"""The progress bar the long-running commands (prepare, generate, demo) show on the terminal."""

from __future__ import annotations


class Progress:
    """A tqdm bar over a command's steps, created on the first report (so tqdm loads only when used); silent when
    ``quiet``."""

    def __init__(self, quiet: bool, description: str):
        self.bar = None
        self.quiet = quiet
        self.description = description

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="step", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

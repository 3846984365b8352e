# Sourced by scripts/dev and scripts/test: make `uv` available, installing it from PyPI.
if ! command -v uv >/dev/null 2>&1; then
  echo "== installing uv from PyPI" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
export UV_PYTHON_DOWNLOADS=never

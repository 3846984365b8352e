# Sourced by scripts/dev and scripts/test: make `uv` available, installing it from PyPI.
if ! command -v uv >/dev/null 2>&1; then
  echo "== installing uv from PyPI" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
export UV_PYTHON_DOWNLOADS=never
# Installed packages get their bytecode at install time: a machine that sets
# PYTHONDONTWRITEBYTECODE would otherwise compile every import in every process it starts
# (jieba's 1.3 MB probability table alone costs a process 60 MB of memory to compile).
export UV_COMPILE_BYTECODE=1

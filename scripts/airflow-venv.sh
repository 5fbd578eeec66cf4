#!/usr/bin/env bash
# A virtualenv with real Apache Airflow, the oracle of the template tests: Airflow itself
# renders tests/corpus/templates.yaml (tests/python/airflow_render.py) and the Rust test
# compares dagctl's rendering with it.
#   eval "$(scripts/airflow-venv.sh DIR)"   prints DAGCTL_TEST_AIRFLOW_PYTHON to export
# The venv is made once: DIR is reused when its Python already imports this Airflow version.
# Installing takes about half a minute (a plain pin, no constraints file).
set -euo pipefail
dir=${1:?venv folder}
version=3.3.2
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
py="$dir/bin/python"

# `import airflow` creates $AIRFLOW_HOME/logs: point it at a throwaway folder.
has_airflow() {
  [ -x "$py" ] || return 1
  local home found
  home=$(mktemp -d)
  found=$(AIRFLOW_HOME="$home" "$py" -c 'import airflow; print(airflow.__version__)' 2>/dev/null) || true
  rm -rf "$home"
  [ "$found" = "$version" ]
}

if ! has_airflow; then
  echo "airflow-venv.sh: installing apache-airflow==$version into $dir" >&2
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$version" >&2
  if ! has_airflow; then
    echo "airflow-venv.sh: $py cannot import airflow $version after the install" >&2
    exit 1
  fi
fi
echo "export DAGCTL_TEST_AIRFLOW_PYTHON=$py"

# bash completion for faultbox. Installed as /usr/share/bash-completion/completions/faultbox,
# where bash-completion loads it the first time `faultbox` is completed.
#
# The subcommands, options and fault types are asked from faultbox itself (`faultbox
# __complete`, built from its CLI definitions and fault-type registry), so this file holds no
# copy of them; injectable functions come from the cached kernel (`faultbox kernel injectable`).
_faultbox() {
  local cur prev words cword
  _init_completion -n = || return
  local fb=${words[0]}

  local kind word subs=() flags=() options=() positionals=()
  while read -r kind word; do
    case $kind in
      sub) subs+=("$word") ;;
      flag) flags+=("$word") ;;
      option) options+=("$word") ;;
      positional) positionals+=("$word") ;;
    esac
  done < <("$fb" __complete words "${words[@]:1:cword-1}" 2>/dev/null)

  # After `exec ... --` comes the guest command: complete it as a command line.
  local i
  for ((i = 1; i < cword; i++)); do
    if [[ ${words[i]} == -- ]]; then
      _command_offset $((i + 1))
      return
    fi
  done

  # The value of an option that takes one.
  local o
  for o in "${options[@]}"; do
    [[ $prev == "$o" ]] || continue
    case $prev in
      --fault) mapfile -t COMPREPLY < <(compgen -W "$("$fb" __complete fault-types 2>/dev/null)" -- "$cur") ;;
      --accel) mapfile -t COMPREPLY < <(compgen -W "auto kvm tcg" -- "$cur") ;;
      --root) mapfile -t COMPREPLY < <(compgen -W "initramfs disk" -- "$cur") ;;
      --memory | --cpus | --timeout | --jobs | -j | --env | --cwd | --root-size) ;;  # a value, not a path
      --cache-dir | --keep-artifacts | --fragment-dir) _filedir -d ;;
      *) _filedir ;;
    esac
    return
  done

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${flags[*]} ${options[*]}" -- "$cur")
    return
  fi
  if ((${#subs[@]})); then
    mapfile -t COMPREPLY < <(compgen -W "${subs[*]}" -- "$cur")
    return
  fi
  case " ${positionals[*]} " in
    *" scenario "*) _filedir toml ;;
    *" function "*)
      mapfile -t COMPREPLY < <(compgen -W "$("$fb" kernel injectable 2>/dev/null | cut -f1)" -- "$cur") ;;
    *) _filedir ;;
  esac
}
complete -F _faultbox faultbox

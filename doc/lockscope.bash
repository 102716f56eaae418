# lockscope.bash - bash completion for lockscope: commands, each command's options, their
# values, trace files (*.lsz) and process ids. `make install` puts it where bash-completion looks.

_lockscope_pids()
{
	local pids
	pids=$(cd /proc 2>/dev/null && compgen -G '[0-9]*')
	COMPREPLY=($(compgen -W "$pids" -- "$cur"))
}

_lockscope()
{
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="record report graph export view top dump help"

	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}
	# after `record ... --`, the command to launch and its own arguments
	if [[ $cmd == record ]]; then
		for ((i = 2; i < COMP_CWORD; i++)); do
			if [[ ${COMP_WORDS[i]} == -- ]]; then
				if ((i + 1 == COMP_CWORD)); then
					COMPREPLY=($(compgen -c -- "$cur"))
				else
					COMPREPLY=($(compgen -f -- "$cur"))
				fi
				return
			fi
		done
	fi
	case $prev in
	-p | --pid)
		_lockscope_pids
		return
		;;
	--mode)
		COMPREPLY=($(compgen -W "auto contention full" -- "$cur"))
		return
		;;
	--format)
		case $cmd in
		graph) COMPREPLY=($(compgen -W "dot json" -- "$cur")) ;;
		export) COMPREPLY=($(compgen -W "chrome pprof perfetto speedscope" -- "$cur")) ;;
		esac
		return
		;;
	--by)
		COMPREPLY=($(compgen -W "waiter holder" -- "$cur"))
		return
		;;
	-o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-d | --duration | --overhead-budget | --loop-threshold | --top | --port | -i | --interval)
		return
		;;
	esac
	local opts
	case $cmd in
	record) opts="-p --pid -o --output -d --duration --mode --overhead-budget --loop-threshold --no-stacks --help --" ;;
	report) opts="--json --top --no-demangle --help" ;;
	graph) opts="--format --no-demangle --help" ;;
	export) opts="-o --output --format --by --no-demangle --help" ;;
	view) opts="--port --no-demangle --help" ;;
	top) opts="-p --pid -o --output -i --interval --no-demangle --help" ;;
	dump) opts="-p --pid --json --no-demangle --help" ;;
	help)
		[[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
		;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	case $cmd in
	report | graph | export | view)
		# trace files, and directories to find them in
		COMPREPLY=($(compgen -f -X '!*.lsz' -- "$cur") $(compgen -d -S / -- "$cur"))
		compopt -o nospace 2>/dev/null
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} != */ ]] && compopt +o nospace 2>/dev/null
		;;
	esac
}
complete -F _lockscope lockscope

// The frame tables. Kept as exact names and name prefixes (no regular expressions): a lookup is
// a bounded number of comparisons whatever the input. Sorted by what the functions do, because
// that is what decides whether a developer reads past them.
#include "orchestrator/core/crash_frames.h"

#include <initializer_list>

namespace fb {

namespace {

using std::string_view;

struct NameSet {
  std::initializer_list<string_view> exact;
  std::initializer_list<string_view> prefixes;
  bool has(string_view name) const {
    for (auto e : exact)
      if (name == e) return true;
    for (auto p : prefixes)
      if (name.substr(0, p.size()) == p) return true;
    return false;
  }
};

// Printing, trapping, detecting: the report's own machinery.
const NameSet kReporting = {
    {// stacks and registers
     "show_stack", "show_regs", "__show_regs", "show_trace_log_lvl", "show_regs_print_info", "show_stack_lvl",
     "sched_show_task", "_sched_show_task", "show_state_filter", "print_stack_trace", "stack_trace_print", "stack_trace_save",
     "dump_backtrace", "arch_stack_walk", "unwind_backtrace", "nmi_cpu_backtrace", "nmi_trigger_cpumask_backtrace",
     // WARN, BUG, oops, panic
     "report_bug", "handle_bug", "fixup_bug", "do_trap", "do_error_trap", "die", "die_addr", "die_body",
     "die_kernel_fault", "bug_handler", "brk_handler", "call_break_hook", "vpanic", "check_panic_on_warn",
     "page_fault_oops", "kernelmode_fixup_or_oops", "no_context", "__bad_area_nosemaphore", "bad_area_nosemaphore",
     "bad_area", "bad_area_access_error", "do_user_addr_fault", "do_kern_addr_fault", "spurious_kernel_fault",
     "handle_page_fault", "handle_stack_overflow", "math_error", "do_int3", "do_int3_user", "fail_dump",
     "do_general_protection", "general_protection", "do_divide_error", "divide_error", "do_invalid_op",
     "invalid_op", "do_page_fault", "__do_page_fault", "page_fault", "async_page_fault", "do_double_fault",
     "do_stack_segment", "stack_segment", "do_mem_abort", "__do_kernel_fault", "do_translation_fault",
     "do_bad_area", "do_alignment_fault", "do_el0_ia_bp_hardening", "do_debug_exception", "do_undefinstr",
     "do_PrefetchAbort", "do_DataAbort", "__dabt_svc", "__und_svc", "arm64_notify_die", "bug_brk_handler",
     "__die_body", "retint_kernel", "retint_user", "ret_from_exception", "resume_kernel", "do_tag_check_fault", "do_tag_recovery", "el1_abort", "el1_da", "el1_ia", "el1_undef",
     "el1_dbg", "el1_inv", "do_bad_area", "do_sea", "report_tag_fault", "mte_report_tag_fault",
     "program_check_exception", "bad_page_fault", "__bad_page_fault", "bad_page", "bad_page_fault_check",
     // lockdep and the lock debugging checks
     "print_circular_bug", "print_deadlock_bug", "print_usage_bug", "print_bad_irq_dependency",
     "print_irq_inversion_bug", "print_unlock_imbalance_bug", "print_lock_nested_lock_not_held",
     "print_freed_lock_bug", "print_held_locks_bug", "print_lock", "print_lock_class_header",
     "print_shortest_lock_dependencies", "print_irqtrace_events", "print_lockdep_off", "check_noncircular",
     "check_prev_add", "check_prevs_add", "check_deadlock", "check_irq_usage", "check_usage", "check_usage_forwards",
     "check_usage_backwards", "check_flags", "check_chain_key", "check_wait_context", "validate_chain",
     "mark_lock", "mark_lock_irq", "mark_usage", "mark_held_locks", "valid_state", "__lock_acquire",
     "lock_acquire", "__lock_release", "lock_release", "lock_acquired", "lock_contended", "lock_sync",
     "__lock_acquired", "__lock_contended", "register_lock_class", "look_up_lock_class", "lock_is_held_type",
     "__lock_is_held", "lockdep_rcu_suspicious", "debug_check_no_locks_freed", "debug_check_no_locks_held",
     "lockdep_init_map", "lockdep_init_map_type", "lockdep_init_map_waits", "lockdep_init_map_wait",
     "spin_dump", "spin_bug", "rwlock_bug", "debug_spin_lock_before", "debug_spin_lock_after",
     "debug_spin_unlock", "debug_write_lock_before", "debug_write_unlock", "debug_read_lock_before",
     "__schedule_bug", "schedule_debug", "___might_sleep", "__might_sleep", "__might_resched", "might_sleep",
     "__might_fault", "might_fault", "__cant_sleep", "__cant_migrate", "check_preemption_disabled",
     "debug_smp_processor_id", "__this_cpu_preempt_check", "rcu_note_context_switch", "debug_lockdep_rcu_enabled",
     "debug_print_object", "debug_object_assert_init", "debug_check_no_obj_freed", "__debug_check_no_obj_freed",
     "debug_object_free", "debug_object_activate", "debug_object_destroy", "debug_object_deactivate",
     "debug_object_init", "debug_object_init_on_stack", "debug_object_active_state",
     // list and refcount debugging, usercopy hardening
     "__list_add_valid", "__list_del_entry_valid", "__list_add_valid_or_report",
     "__list_del_entry_valid_or_report", "__list_valid_slowpath", "refcount_warn_saturate", "usercopy_abort",
     "usercopy_warn", "__check_object_size", "check_object_size", "check_heap_object", "check_stack_object",
     "__check_heap_object", "__kmem_obj_info", "fortify_panic", "__fortify_report", "__fortify_panic",
     // sanitizers' entry points that have no common prefix
     "check_memory_region", "check_memory_region_inline", "memory_is_poisoned", "handle_overflow",
     "handle_null_ptr_deref", "handle_misaligned_access", "handle_object_size_mismatch", "val_to_string",
     "print_address_description", "print_report", "print_memory_metadata", "describe_object",
     "print_tracking", "print_trailer",
     // SLUB debug's own reporting
     "slab_err", "slab_bug", "slab_fix", "slab_pad_check", "object_err", "print_page_info", "print_section",
     "check_object", "check_bytes_and_report", "free_debug_processing", "alloc_debug_processing", "on_freelist",
     "free_consistency_checks", "alloc_consistency_checks", "check_slab", "set_track", "set_track_update",
     "free_to_partial_list", "__slab_free_debug",
     // the timer, watchdog and RCU machinery that notices a stall
     "update_process_times", "scheduler_tick", "sched_tick", "irq_exit_rcu", "__irq_exit_rcu", "irq_exit",
     "rcu_sched_clock_irq", "rcu_check_callbacks", "rcu_pending", "check_cpu_stall", "print_cpu_stall",
     "print_other_cpu_stall", "print_cpu_stall_info", "rcu_check_gp_kthread_starvation", "rcu_dump_cpu_stacks",
     "watchdog", "watchdog_timer_fn", "watchdog_overflow_callback", "check_hung_uninterruptible_tasks",
     "check_hung_task", "hung_task_panic", "smp_apic_timer_interrupt", "apic_timer_interrupt",
     "local_apic_timer_interrupt", "handle_percpu_devid_irq", "gic_handle_irq", "__handle_domain_irq",
     "handle_domain_irq", "__irq_svc", "__irq_usr", "arch_timer_handler_virt", "arch_timer_handler_phys",
     "generic_handle_domain_irq", "handle_percpu_devid_fasteoi_ipi", "ipi_handler", "do_handle_IPI",
     "call_timer_fn_stall_dummy",
     "__perf_event_overflow", "perf_event_overflow", "handle_pmi_common", "intel_pmu_handle_irq",
     "perf_event_nmi_handler", "default_do_nmi", "do_nmi", "nmi_handle", "trigger_single_cpu_backtrace",
     "arch_trigger_cpumask_backtrace", "trigger_all_cpu_backtrace", "synchronize_rcu_expedited_wait_once",
     // fault injection
     "should_fail", "should_fail_ex", "should_failslab", "__should_failslab", "should_fail_alloc_page",
     "should_fail_bio", "should_fail_usercopy", "should_fail_futex",
     // the kmemleak scanner itself
     "kmemleak_alloc", "kmemleak_alloc_recursive", "kmemleak_alloc_percpu", "kmemleak_vmalloc", "create_object",
     "__create_object", "kmemleak_scan", "kmemleak_seq_show"},
    {"dump_stack", "__warn", "warn_slowpath", "exc_", "asm_exc_", "__die", "oops_", "panic", "nmi_", "__nmi_",
     "kasan_", "__kasan_", "__asan_", "asan_", "kmsan_", "__kmsan_", "__msan_", "kcsan_", "__kcsan_", "__tsan_",
     "kfence_", "__kfence_", "ubsan_", "__ubsan_", "__sanitizer_", "sanitizer_cov", "write_comp_data",
     "lockdep_", "__lockdep_", "print_lock_", "print_usage_", "rcu_dump_", "rcu_print_", "print_cpu_stall",
     "print_other_cpu_stall", "report_", "__report_", "printk", "vprintk", "_printk", "debug_object", "el1_", "el1h_", "el0_da", "el0_ia", "el0_sync", "el0_svc_common",
     "sysvec_", "__sysvec_", "asm_sysvec_", "irqentry_", "idtentry_", "hrtimer_interrupt", "__hrtimer_run_queues",
     "hrtimer_run_queues", "tick_", "watchdog_", "ret_from_intr", "smp_apic_timer_interrupt", "trace_hardirqs",
     "lockdep_hardirqs", "arch_timer_handler", "__sanitizer_cov", "trace_event_raw_event_",
     "__traceiter_", "__bpf_trace_", "trace_call_bpf", "stack_trace_", "unwind_", "__unwind_", "walk_stackframe",
     "__x86_indirect_thunk", "__x86_return_thunk", "kmsan_", "check_stack_", "save_stack", "__save_stack",
     "stack_depot_", "__stack_depot_", "set_track", "ftrace_", "__dump_stack", "dump_cpu_task", "dump_header",
     "assert", "__assert", "__seqprop_assert", "__hwasan_", "hwasan_", "hlock_", "reacquire_held_locks",
     "__debug_object", "do_trap_", "program_check_", "smp_trace_apic", "qlist_", "quarantine_", "warn_", "__warn_", "ref_tracker_", "rcu_gp_kthread", "rcu_check_gp_", "rcu_stall_"}};

// Code every path passes through on its way to the code under test.
const NameSet kEntry = {
    {"lkdtm_do_action", "direct_entry", "full_proxy_write", "full_proxy_read", "vfs_write", "vfs_read",
     "ksys_write", "ksys_read", "ksys_ioctl", "do_syscall_64", "do_syscall_x64", "do_syscall_32_irqs_on",
     "do_int80_syscall_32", "do_fast_syscall_32", "entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe",
     "entry_SYSCALL_64_fastpath", "entry_SYSENTER_compat", "entry_INT80_compat", "ret_from_fork",
     "ret_from_fork_asm", "kthread", "proc_reg_write", "proc_reg_read", "new_sync_write", "new_sync_read",
     "invoke_syscall", "__invoke_syscall", "do_el0_svc", "el0_svc", "el0t_64_sync", "el0t_64_sync_handler",
     "el0_svc_handler", "ret_fast_syscall", "worker_thread", "process_one_work", "process_scheduled_works",
     "smpboot_thread_fn", "do_softirq", "__do_softirq", "handle_softirqs", "do_softirq_own_stack",
     "call_on_stack", "run_ksoftirqd", "common_interrupt", "asm_common_interrupt", "do_IRQ", "handle_irq",
     "__handle_irq_event_percpu", "handle_irq_event_percpu", "handle_irq_event", "generic_handle_irq",
     "start_kernel", "rest_init", "kernel_init", "cpu_startup_entry", "do_idle", "secondary_startup_64",
     "start_secondary", "x86_64_start_kernel", "x86_64_start_reservations", "syscall_exit_to_user_mode",
     "exit_to_user_mode_prepare", "exit_to_user_mode_loop", "prepare_exit_to_usermode", "syscall_return_slowpath",
     "do_group_exit", "get_signal", "arch_do_signal_or_restart", "do_signal",
     // the VFS and socket layers between a syscall and the file or protocol operation
     "__vfs_write", "__vfs_read", "vfs_writev", "vfs_readv", "do_iter_write", "do_iter_read",
     "do_iter_readv_writev", "do_loop_readv_writev", "do_readv", "do_writev", "do_preadv", "do_pwritev",
     "call_write_iter", "call_read_iter", "__kernel_write", "__kernel_read", "kernel_write", "kernel_read",
     "vfs_iter_write", "vfs_iter_read", "do_sys_open", "do_sys_openat2", "do_filp_open", "path_openat",
     "do_open", "vfs_open", "do_dentry_open", "vfs_ioctl", "do_vfs_ioctl", "file_ioctl", "ksys_ioctl",
     "compat_ptr_ioctl", "sock_sendmsg", "sock_sendmsg_nosec", "__sock_sendmsg", "sock_recvmsg",
     "sock_recvmsg_nosec", "____sys_sendmsg", "___sys_sendmsg", "__sys_sendmsg", "__sys_sendmmsg",
     "____sys_recvmsg", "___sys_recvmsg", "__sys_recvmsg", "__sys_recvmmsg", "do_recvmmsg", "__sys_sendto",
     "__sys_recvfrom", "sock_write_iter", "sock_read_iter", "__sys_setsockopt", "__sys_getsockopt",
     "do_sock_setsockopt", "do_sock_getsockopt", "__sys_bind", "__sys_connect", "__sys_connect_file",
     "__sys_socket", "__sys_accept4", "__sys_accept4_file", "__sys_listen", "__sys_shutdown",
     "__sys_socketpair", "sock_ioctl", "sock_do_ioctl", "sock_close", "__sock_release", "sock_release",
     "__fput", "____fput", "fput", "fput_many", "task_work_run", "exit_to_usermode_loop", "do_exit",
     "do_sys_ftruncate", "do_truncate", "vfs_write_iter", "vfs_read_iter", "seq_read", "seq_read_iter",
     "kernfs_fop_write", "kernfs_fop_read", "kernfs_fop_write_iter", "kernfs_fop_read_iter", "do_mount",
     "path_mount", "vfs_get_tree", "do_new_mount", "ksys_mount", "do_sys_poll", "do_select",
     "core_sys_select", "do_splice", "do_sendfile", "__do_splice", "splice_direct_to_actor",
     "do_splice_direct", "iter_file_splice_write", "generic_perform_write", "vfs_fallocate",
     "ksys_fallocate", "do_fsync", "vfs_fsync_range", "ksys_sync", "do_sys_truncate", "vfs_truncate",
     "filename_create", "do_mkdirat", "do_rmdir", "do_unlinkat", "do_renameat2", "do_linkat", "do_symlinkat",
     "do_faccessat", "do_fchmodat", "chmod_common", "do_fchownat", "chown_common", "vfs_statx", "do_statx",
     "ksys_ftruncate", "ksys_readahead", "ksys_pread64", "ksys_pwrite64", "ksys_lseek", "ksys_dup3",
     "ksys_unshare", "ksys_msgsnd", "ksys_msgrcv", "ksys_semget", "ksys_shmctl", "ksys_mmap_pgoff",
     "vm_mmap_pgoff", "do_mmap", "mmap_region", "do_madvise", "do_fault", "handle_mm_fault",
     "__handle_mm_fault", "handle_pte_fault", "do_user_addr_fault"},
    {"__x64_sys_", "__ia32_sys_", "__se_sys_", "__arm64_sys_", "__riscv_sys_", "__s390x_sys_", "__do_compat_sys_",
     "__se_compat_sys_", "__x64_compat_sys_", "__ia32_compat_sys_", "SyS_", "SYSC_", "sys_", "compat_SyS_",
     "C_SYSC_", "entry_SYSCALL", "syscall_trace", "__sysvec_call_function", "ksys_", "security_", "call_int_hook"}};

// Locks, waits, allocators, string and copy helpers: generic machinery a bug passes through.
const NameSet kHelper = {
    {// locking
     "mutex_lock", "mutex_lock_nested", "mutex_lock_interruptible", "mutex_lock_interruptible_nested",
     "mutex_lock_killable", "mutex_lock_killable_nested", "mutex_lock_io", "mutex_lock_io_nested",
     "mutex_trylock", "mutex_unlock", "__mutex_lock", "__mutex_lock_common", "__mutex_lock_slowpath",
     "__mutex_unlock_slowpath", "__mutex_lock_interruptible_slowpath", "__mutex_lock_killable_slowpath",
     "mutex_optimistic_spin", "__mutex_trylock", "down", "up", "down_read", "down_write", "up_read", "up_write",
     "down_read_nested", "down_write_nested", "down_read_killable", "down_write_killable",
     "down_read_interruptible", "down_interruptible", "down_killable", "down_timeout", "down_trylock",
     "down_read_trylock", "down_write_trylock", "downgrade_write", "rwsem_down_read_failed",
     "rwsem_down_write_failed", "call_rwsem_down_read_failed", "call_rwsem_down_write_failed",
     "rwsem_down_read_slowpath", "rwsem_down_write_slowpath", "__rwsem_down_read_failed_common",
     "__rwsem_down_write_failed_common", "rwsem_wake", "call_rwsem_wake", "rwsem_optimistic_spin",
     "rt_mutex_lock", "rt_mutex_slowlock", "rt_spin_lock", "rt_spin_unlock", "percpu_down_read",
     "percpu_down_write", "percpu_up_read", "percpu_up_write", "percpu_rwsem_wait", "__percpu_down_read",
     "__percpu_rwsem_down_read", "lock_sock", "lock_sock_nested", "__lock_sock", "release_sock",
     "lock_sock_fast", "__release_sock", "rcu_read_lock", "rcu_read_unlock", "__rcu_read_lock",
     "__rcu_read_unlock", "rcu_lock_acquire", "rcu_lock_release", "local_bh_disable", "local_bh_enable",
     "__local_bh_disable_ip", "__local_bh_enable_ip", "preempt_count_add", "preempt_count_sub",
     "lock_timer_base", "bit_spin_lock", "__bit_spin_unlock", "ww_mutex_lock", "ww_mutex_lock_interruptible",
     "ww_mutex_unlock", "__ww_mutex_lock", "__ww_mutex_lock_slowpath", "inode_lock", "inode_unlock",
     "inode_lock_nested", "inode_lock_shared", "inode_unlock_shared",
     // waiting and scheduling
     "schedule", "__schedule", "schedule_timeout", "schedule_timeout_uninterruptible",
     "schedule_timeout_interruptible", "schedule_timeout_killable", "schedule_preempt_disabled",
     "schedule_idle", "io_schedule", "io_schedule_timeout", "preempt_schedule", "preempt_schedule_common",
     "preempt_schedule_irq", "preempt_schedule_thunk", "preempt_schedule_notrace", "_cond_resched",
     "__cond_resched", "__cond_resched_lock", "context_switch", "__switch_to", "__switch_to_asm",
     "finish_task_switch", "wait_for_completion", "wait_for_completion_timeout",
     "wait_for_completion_interruptible", "wait_for_completion_killable", "wait_for_completion_io",
     "wait_for_completion_state", "__wait_for_common", "wait_for_common", "do_wait_for_common",
     "wait_for_common_io", "__wait_rcu_gp", "wait_rcu_gp", "out_of_line_wait_on_bit", "__wait_on_bit",
     "__wait_on_bit_lock", "out_of_line_wait_on_bit_lock", "bit_wait", "bit_wait_io", "wait_on_page_bit",
     "wait_on_page_bit_common", "folio_wait_bit", "folio_wait_bit_common", "__folio_lock", "__lock_page",
     "prepare_to_wait", "prepare_to_wait_event", "finish_wait", "msleep", "usleep_range", "ssleep",
     "usleep_range_state", "schedule_hrtimeout_range", "schedule_hrtimeout_range_clock", "do_nanosleep",
     "hrtimer_nanosleep", "futex_wait_queue", "futex_wait_queue_me", "__flush_work", "flush_work",
     "__flush_workqueue", "flush_workqueue", "drain_workqueue", "__cancel_work_timer", "cancel_work_sync",
     "cancel_delayed_work_sync", "__synchronize_srcu", "synchronize_srcu",
     "kthread_stop", "kthread_flush_work",
     // allocation and freeing
     "kfree", "kvfree", "kfree_sensitive", "kzfree", "kmalloc", "kzalloc", "kcalloc", "krealloc", "__krealloc",
     "kmalloc_array", "kmalloc_node", "kzalloc_node", "kcalloc_node", "kmalloc_trace", "kmalloc_slab",
     "kmalloc_large", "kmalloc_order", "kmalloc_order_trace", "kmalloc_large_node", "kvmalloc", "kvmalloc_node",
     "kvzalloc", "kvcalloc", "kvmalloc_array", "kmemdup", "kmemdup_nul", "kstrdup", "kstrndup", "kstrdup_const",
     "kvasprintf", "kasprintf", "kvasprintf_const", "memdup_user", "memdup_user_nul", "vmemdup_user",
     "strndup_user", "vmalloc", "vzalloc", "vmalloc_node", "vzalloc_node", "vmalloc_user", "vfree", "__vfree",
     "vfree_atomic", "__vmalloc", "__vmalloc_node", "__vmalloc_node_range", "__vmalloc_area_node",
     "__get_vm_area_node", "alloc_vmap_area", "__alloc_pages", "__alloc_pages_nodemask", "alloc_pages",
     "alloc_pages_current", "alloc_pages_vma", "__alloc_pages_node", "alloc_pages_node", "alloc_page_interleave",
     "__get_free_pages", "get_zeroed_page", "__free_pages", "free_pages", "__free_pages_ok", "free_unref_page",
     "__alloc_pages_slowpath", "get_page_from_freelist", "prep_new_page", "post_alloc_hook",
     "alloc_pages_mpol", "folio_alloc", "__folio_alloc", "vma_alloc_folio", "alloc_slab_page", "allocate_slab",
     "new_slab", "new_slab_objects", "shuffle_freelist", "setup_object", "kmem_getpages", "cache_grow_begin",
     "cache_alloc_refill", "____cache_alloc", "__cache_alloc", "___cache_free", "__cache_free",
     "cache_free_debugcheck", "mempool_alloc", "mempool_free", "mempool_alloc_slab", "percpu_alloc",
     "__alloc_percpu", "__alloc_percpu_gfp", "pcpu_alloc", "free_percpu", "kmalloc_reserve", "__kmalloc_reserve",
     "kmem_cache_zalloc", "do_kmalloc", "__do_kmalloc", "__do_kmalloc_node", "__kmalloc_node_track_caller",
     "kmalloc_node_track_caller", "__kmalloc_track_caller", "call_rcu", "kfree_rcu", "kvfree_call_rcu",
     "__call_rcu", "kfree_call_rcu", "memcg_slab_post_alloc_hook", "__memcg_slab_post_alloc_hook",
     "kmem_cache_alloc", "kmem_cache_free",
     // strings, memory and user copies
     "memcpy", "memmove", "memset", "memcmp", "bcmp", "memchr", "memchr_inv", "memscan", "__memcpy", "__memset",
     "__memmove", "memcpy_erms", "memset_erms", "memcpy_orig", "memset_orig", "memmove_orig", "__memcpy_chk",
     "__memset_chk", "memcpy_fromio", "memcpy_toio", "memcpy_and_pad", "strlen", "strnlen", "strcpy", "strncpy",
     "strscpy", "strscpy_pad", "sized_strscpy", "strlcpy", "strlcat", "strcat", "strncat", "strcmp", "strncmp",
     "strcasecmp", "strncasecmp", "strchr", "strrchr", "strnchr", "strstr", "strnstr", "strsep", "strpbrk",
     "strspn", "strcspn", "strim", "skip_spaces", "sprintf", "snprintf", "vsnprintf", "scnprintf", "vscnprintf",
     "vsprintf", "sscanf", "vsscanf", "string", "string_nocheck", "pointer", "format_decode", "number",
     "_copy_from_user", "_copy_to_user", "copy_from_user", "copy_to_user", "__copy_from_user", "__copy_to_user",
     "raw_copy_from_user", "raw_copy_to_user", "__arch_copy_from_user", "__arch_copy_to_user",
     "copy_user_generic_string", "copy_user_generic_unrolled", "copy_user_enhanced_fast_string",
     "copy_user_generic", "rep_movs_alternative", "rep_stos_alternative", "__copy_user_nocache",
     "__copy_user_flushcache", "copy_from_user_nofault", "copy_to_user_nofault", "copy_from_kernel_nofault",
     "strncpy_from_user", "strnlen_user", "do_strncpy_from_user", "__get_user_1", "__get_user_2",
     "__get_user_4", "__get_user_8", "__put_user_1", "__put_user_2", "__put_user_4", "__put_user_8",
     "__get_user_nocheck_1", "__get_user_nocheck_2", "__get_user_nocheck_4", "__get_user_nocheck_8",
     "__put_user_nocheck_1", "__put_user_nocheck_2", "__put_user_nocheck_4", "__put_user_nocheck_8",
     "clear_user", "__clear_user", "copyin", "copyout", "_copy_from_iter", "_copy_to_iter", "copy_from_iter",
     "copy_to_iter", "_copy_from_iter_full", "copy_from_iter_full", "_copy_from_iter_nocache",
     "copy_page_from_iter", "copy_page_to_iter", "copy_page_from_iter_atomic", "copy_folio_from_iter_atomic",
     "iov_iter_copy_from_user_atomic", "copy_from_iter_full_nocache", "csum_and_copy_from_iter",
     "csum_and_copy_to_iter", "csum_partial_copy_generic", "memcpy_from_msg", "memcpy_to_msg", "copyin_iter",
     "memcpy_from_iter", "memcpy_to_iter", "iterate_iovec", "iterate_ubuf", "iterate_and_advance",
     "read_word_at_a_time", "instrument_copy_to_user", "instrument_copy_from_user",
     "instrument_copy_from_user_before", "instrument_copy_from_user_after", "instrument_get_user",
     "instrument_put_user", "instrument_atomic_read", "instrument_atomic_write", "instrument_read",
     "instrument_write", "instrument_read_write", "instrument_atomic_read_write",
     // refcounts and lists: the bug is in their caller
     "refcount_inc", "refcount_dec", "refcount_add", "refcount_sub_and_test", "refcount_dec_and_test",
     "refcount_inc_not_zero", "refcount_add_not_zero", "refcount_dec_and_lock", "refcount_dec_and_mutex_lock",
     "refcount_dec_and_lock_irqsave", "refcount_dec_not_one", "refcount_dec_if_one", "refcount_dec_checked",
     "refcount_inc_checked", "refcount_sub_and_test_checked", "refcount_dec_and_test_checked",
     "refcount_add_checked", "refcount_add_not_zero_checked", "refcount_inc_not_zero_checked",
     "kref_put", "kref_get", "kref_put_mutex", "kref_put_lock", "kref_get_unless_zero", "list_add",
     "list_add_tail", "list_del", "list_del_init", "__list_add", "__list_del_entry", "list_move",
     "list_move_tail", "list_del_rcu", "list_add_rcu", "list_add_tail_rcu", "hlist_del", "hlist_del_init",
     "__hlist_del", "hlist_add_head", "hlist_del_rcu", "hlist_add_head_rcu", "list_replace",
     "list_replace_init",
     // atomics and bit operations the sanitizers see first
     "atomic_read", "atomic_set", "atomic_inc", "atomic_dec", "atomic_add", "atomic_sub", "atomic_long_read",
     "atomic_long_set", "atomic_long_inc", "atomic_long_dec", "atomic64_read", "atomic64_set", "atomic_try_cmpxchg",
     "atomic_fetch_add_relaxed", "atomic_dec_and_test", "atomic_inc_not_zero", "test_bit", "set_bit",
     "clear_bit", "__set_bit", "__clear_bit", "test_and_set_bit", "test_and_clear_bit", "change_bit",
     "_find_first_bit", "_find_next_bit", "find_first_bit", "find_next_bit", "__bitmap_and",
     "arch_atomic_read", "arch_atomic_set", "raw_atomic_read"},
    {"kmem_cache_", "__kmem_cache_", "kmalloc_", "__kmalloc", "slab_", "__slab_", "___slab_", "slob_",
     "_raw_spin_", "_raw_read_", "_raw_write_", "__raw_spin_", "__raw_read_", "__raw_write_", "raw_spin_",
     "do_raw_spin_", "do_raw_read_", "do_raw_write_", "spin_lock", "spin_unlock", "spin_trylock", "read_lock",
     "read_unlock", "write_lock", "write_unlock", "queued_spin_", "queued_read_", "queued_write_",
     "native_queued_spin_", "__pv_queued_spin_", "pv_queued_spin_", "__queued_spin_", "arch_spin_",
     "virt_spin_lock", "rt_mutex", "__rt_mutex", "rwbase_", "__ww_mutex", "mutex_lock", "__mutex_",
     "rwsem_", "__rwsem_", "__down", "__up", "percpu_ref_", "seqcount_", "__seqcount_", "read_seqcount_",
     "write_seqcount_", "__read_seqcount_", "rcu_read_", "srcu_read_", "__srcu_read_", "wait_event", "__wait_event", "wait_on_", "__wait_on_", "prepare_to_wait", "memcpy_",
     "memset_", "memmove_", "__memcpy_", "__memset_", "copy_user_", "__copy_user", "_copy_", "copy_mc_",
     "__get_user", "__put_user", "__asm_copy_", "strncpy_from_", "__strncpy_from_", "__strnlen_",
     "__refcount_", "refcount_", "atomic_", "__atomic_", "arch_atomic", "raw_atomic", "atomic64_",
     "atomic_long_", "__fsnotify_", "kvfree_", "ldsem_", "__ldsem_", "down_read", "down_write", "osq_lock",
     "__sk_destruct", "sk_destruct", "rb_", "__rb_", "xas_", "__xas_", "xa_", "__xa_", "idr_", "ida_",
     "radix_tree_", "__radix_tree_", "klist_", "kobject_", "kobj_", "sysfs_", "__wake_up",
     "wake_up", "__list_", "list_", "hlist_", "call_rcu", "__call_rcu", "skb_put", "skb_push", "skb_pull",
     "__skb_pull", "__skb_push", "skb_panic", "skb_over_panic", "skb_under_panic", "__phys_addr", "vunmap",
     "__vunmap", "mutex_remove_waiter", "debug_mutex_", "device_del", "device_unregister", "put_device",
     "get_device", "kref_",
     // driver core, proc/sysfs registration, timers and workqueues: APIs that report (or trip over)
     // their caller's misuse
     "device_add", "device_create_file", "device_remove_file", "device_destroy", "devres_", "dpm_",
     "add_uevent_var", "kobject_uevent", "proc_register", "proc_create", "proc_mkdir", "remove_proc_entry",
     "debugfs_", "__debugfs_", "rollback_registered", "unregister_netdevice", "register_netdevice",
     "del_timer", "__del_timer", "try_to_del_timer_sync", "__try_to_del_timer_sync", "timer_delete",
     "__timer_delete", "mod_timer", "__mod_timer", "add_timer", "__queue_work", "queue_work_on",
     "queue_delayed_work_on", "__queue_delayed_work", "work_is_static_object", "timer_is_static_object",
     "complete", "complete_all", "try_to_grab_pending", "__cancel_work", "cancel_work", "insert_work",
     "sk_stop_timer", "sk_reset_timer", "cleanup_srcu_struct", "srcu_",
     // the VFS's and page cache's own reference and state helpers
     "iput", "dput", "fast_dput", "__dput", "drop_nlink", "clear_nlink", "inc_nlink", "set_nlink",
     "mark_buffer_dirty", "unlock_page", "folio_unlock", "find_lock_entries", "find_get_entries",
     "pagecache_get_page", "__filemap_get_folio", "filemap_get_folio",
     // printing helpers that read what the caller handed them
     "va_format", "dev_vprintk_emit", "dev_printk_emit", "__dev_printk", "dev_printk", "_dev_info", "_dev_err",
     "_dev_warn", "_dev_notice", "__netdev_printk", "netdev_info", "netdev_err", "netdev_warn",
     // more allocation and memory-access plumbing
     "___kmalloc", "__vmalloc_", "vmalloc_", "__read_once", "_atomic_dec_and_", "atomic_dec_and_",
     "__page_cache_alloc", "page_cache_alloc", "free_unref_", "page_frag_", "kfree_skb",
     "__kfree_skb", "consume_skb", "skb_release_", "hex_string", "hex_dump_", "print_hex_dump", "crc16", "crc32",
     "__crc32", "crc_itu_t", "crc_t10dif", "crc64", "aes_encrypt", "aes_decrypt", "sha1_", "sha256", "__sha256",
     "chacha_", "blake2s", "preempt_schedule", "___preempt_schedule", "__preempt_schedule", "__alloc_", "alloc_frozen_pages", "free_large_kmalloc", "__virt_to_phys", "kfree_", "free_pages", "__free_pages", "__folio_put",
     "folio_put", "put_page", "__put_page", "page_frag_alloc", "alloc_pages", "__alloc_pages"}};

// The loops and dispatchers a stall's work runs under.
const NameSet kDispatch = {
    {"__netif_receive_skb_core", "__netif_receive_skb_one_core", "__netif_receive_skb",
     "__netif_receive_skb_list_core", "netif_receive_skb", "netif_receive_skb_internal", "process_backlog",
     "napi_poll", "__napi_poll", "net_rx_action", "net_tx_action", "__do_softirq", "handle_softirqs",
     "do_softirq", "run_ksoftirqd", "call_timer_fn", "expire_timers", "__run_timers", "run_timer_softirq",
     "__run_timer_base", "run_timer_base", "tasklet_action_common", "tasklet_action", "tasklet_hi_action",
     "__hrtimer_run_queues", "hrtimer_run_softirq", "rcu_do_batch", "rcu_core", "rcu_core_si", "rcu_process_callbacks",
     "process_one_work", "process_scheduled_works", "worker_thread", "kthread", "ret_from_fork",
     "ret_from_fork_asm", "smpboot_thread_fn", "irq_work_run_list", "irq_work_single", "flush_smp_call_function_queue",
     "__flush_smp_call_function_queue", "generic_smp_call_function_single_interrupt", "do_syscall_64",
     "do_syscall_x64", "entry_SYSCALL_64_after_hwframe", "entry_SYSCALL_64_fastpath", "invoke_syscall",
     "el0_svc_common", "ksys_write", "ksys_read", "ksys_ioctl", "do_group_exit", "task_work_run",
     "exit_to_user_mode_prepare", "syscall_exit_to_user_mode", "blk_mq_run_work_fn", "__blk_mq_run_hw_queue",
     "irq_thread_fn", "irq_thread", "cpu_startup_entry", "do_idle",
     // calls through an operations table: the frame inside is the file, socket, vm or message handler
     "vfs_write", "__vfs_write", "vfs_read", "__vfs_read", "__kernel_write", "kernel_write", "__kernel_read",
     "kernel_read", "vfs_iter_write", "vfs_iter_read", "do_iter_readv_writev", "do_loop_readv_writev",
     "new_sync_write", "new_sync_read", "vfs_ioctl", "do_vfs_ioctl", "sock_sendmsg", "sock_sendmsg_nosec",
     "__sock_sendmsg", "sock_recvmsg", "sock_recvmsg_nosec", "sock_write_iter", "sock_read_iter",
     "sock_common_setsockopt", "sock_common_getsockopt", "do_sock_setsockopt", "__sys_setsockopt",
     "sock_do_ioctl", "sock_ioctl", "__fput", "do_dentry_open", "call_mmap", "mmap_region", "__do_fault",
     "do_read_fault", "do_shared_fault", "do_cow_fault", "netlink_rcv_skb", "rtnetlink_rcv_msg",
     "genl_rcv_msg", "genl_family_rcv_msg", "genl_family_rcv_msg_doit", "nfnetlink_rcv_msg",
     "nfnetlink_rcv_batch", "genl_family_rcv_msg_dumpit", "netlink_dump", "__netlink_dump_start", "legacy_get_tree", "vfs_get_tree", "mount_fs", "seq_read", "seq_read_iter",
     "proc_reg_write", "proc_reg_read", "full_proxy_write", "full_proxy_read", "kernfs_fop_write_iter",
     "kernfs_fop_read_iter", "kernfs_fop_write", "kernfs_fop_read", "do_splice_to", "do_splice_from",
     "call_write_iter", "call_read_iter", "vfs_fallocate", "vfs_fsync_range", "vfs_truncate", "do_truncate",
     "notify_change", "vfs_setxattr", "vfs_getxattr", "vfs_listxattr", "vfs_create", "vfs_mkdir", "vfs_rmdir",
     "vfs_unlink", "vfs_rename", "vfs_link", "vfs_symlink", "vfs_mknod", "vfs_readlink", "iterate_dir",
     "lookup_open", "path_lookupat", "filename_lookup"},
    {"__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "__arm64_sys_", "SyS_", "SYSC_", "__x64_compat_sys_",
     "__ia32_compat_sys_", "__do_compat_sys_"}};

}  // namespace

FrameRole frame_role(string_view f) {
  // 6.10+ allocation profiling renames allocators "kmalloc_noprof", "__alloc_pages_noprof".
  constexpr string_view kNoprof = "_noprof";
  if (f.size() > kNoprof.size() && f.substr(f.size() - kNoprof.size()) == kNoprof) {
    f.remove_suffix(kNoprof.size());
    if (frame_role(f) == FrameRole::Code) return FrameRole::Helper;
  }
  if (kReporting.has(f)) return FrameRole::Reporting;
  if (kEntry.has(f)) return FrameRole::Entry;
  if (kHelper.has(f)) return FrameRole::Helper;
  return FrameRole::Code;
}

bool is_dispatch_frame(string_view f) { return kDispatch.has(f); }

bool is_sleep_frame(string_view f) {
  // A named lock ("rtnl_lock", "console_lock") or grace period ("synchronize_rcu") is what the
  // task waits on: that is the title. Generic primitives are Helper frames and already skipped.
  if (f.substr(0, 12) == "synchronize_") return false;
  if (auto us = f.find('_'); us != string_view::npos && us > 0 && f.substr(us) == "_lock") return false;
  // By '_'-separated words, so "block" or "clock" is no lock.
  for (std::size_t start = 0; start <= f.size();) {
    std::size_t end = f.find('_', start);
    if (end == string_view::npos) end = f.size();
    string_view word = f.substr(start, end - start);
    if (word.find("wait") != string_view::npos || word == "lock" || word == "locks" || word == "trylock" ||
        word == "timeout" || word == "sleep" || word == "mutex" || word == "sem" || word == "rwsem" ||
        word == "down" || word == "schedule" || word == "completion")
      return true;
    start = end + 1;
  }
  return false;
}

bool is_allocation_frame(string_view f) {
  return f.find("alloc") != string_view::npos || f.find("dup") != string_view::npos ||
         f.find("asprintf") != string_view::npos || f.substr(0, 7) == "kobject";
}

}  // namespace fb

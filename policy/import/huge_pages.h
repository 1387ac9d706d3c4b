// policy/import/huge_pages.h — transparent huge pages for an import's heap.
//
// A 10M-name import touches ~1.5 GB of fresh heap (the text, the entry arena and items, the
// index builder, LMDB's dirty pages). On 4 KiB pages that is ~400k page faults, and in a VM each
// one is dear: they were a third of the import's time. glibc's malloc asks the kernel for
// transparent huge pages (madvise) only when the tunable glibc.malloc.hugetlb=1 is set at
// start-up, and LMDB allocates its dirty pages with plain malloc, so an allocator of our own
// could not reach them: import commands re-execute themselves once with the tunable set.
#pragma once

namespace sekisho::policy {

// If the kernel gives huge pages only on request ("[madvise]" in
// /sys/kernel/mm/transparent_hugepage/enabled) and GLIBC_TUNABLES does not mention
// glibc.malloc.hugetlb yet, execs /proc/self/exe with the same argv and the tunable added; on
// any failure it returns and the import runs on small pages (slower, same result). Call it
// before any thread starts or any file is opened: the exec keeps open descriptors (stdin for
// `import -`) and loses everything else.
void reexec_with_huge_page_malloc(char** argv);

}  // namespace sekisho::policy

typedef int cw_placeholder_unused;

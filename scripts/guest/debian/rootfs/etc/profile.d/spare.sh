# The Spare Cycles shell: the same prompt and terminal as the small guest.
export HOME=/root
export TERM=xterm-256color
export PS1='\u@\h:\w\$ '

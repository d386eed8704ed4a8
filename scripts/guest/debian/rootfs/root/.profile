[ -f /etc/profile ] && . /etc/profile
[ -f ~/.bashrc ] && . ~/.bashrc
cd "$HOME"
[ -f /etc/motd ] && cat /etc/motd

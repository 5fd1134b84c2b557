"""Server-rendered web pages, in Chinese (zh-CN, the default) and English.

The public pages (``/public``) show what the law makes public about organisations and the
court list, from the service functions of :mod:`xinyong.lists.public`; they need no login
and no JavaScript.
"""
